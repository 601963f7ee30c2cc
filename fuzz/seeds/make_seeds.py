#!/usr/bin/env python3
"""Writes the seed inputs of each fuzz target into fuzz/corpus/<target>/.

Seeds are named seed-NN-<slug>; libFuzzer adds its own inputs (named by
their SHA-1) next to them. Re-running this script is harmless.
"""
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "corpus")

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"

FILTERS = [
    # What identity providers send, verbatim.
    'userName eq "bjensen"',                                      # Entra ID, Okta
    'userName eq "test.user@contoso.onmicrosoft.com"',
    'externalId eq "00u1abcd2EFGH3ijk4l5"',                       # Okta
    'displayName eq "Tour Guides"',                               # group lookup
    'id eq "2819c223-7f76-453a-919d-413861904646"',
    'emails[type eq "work"].value eq "bjensen@example.com"',      # Entra ID
    'emails[type eq "work" and primary eq true]',
    'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"',
    'urn:ietf:params:scim:schemas:core:2.0:User:name.familyName co "O\'Malley"',
    'meta.lastModified gt "2011-05-13T04:42:34Z"',
    'meta.created ge "2024-01-31T09:30:00.123+02:00" and meta.created lt "2025-01-01T00:00:00"',
    'meta.resourceType eq "User"',
    'title pr',
    'title pr and userType eq "Employee"',
    'active eq "True"',                                           # Entra ID quirk
    'active ne false',
    'not (userName sw "svc-") and (emails.value ew ".org" or nickName eq null)',
    'NOT(name.givenName Eq "Babs") AND Name.FamilyName SW "J"',
    'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
    'members[value eq "2819c223-7f76-453a-919d-413861904646"]',
    'members.value eq "902c246b-6245-4190-8e05-00816be7344a" and displayName ne "Admins"',
    'groups[display eq "Employees"].type eq "indirect"',
    'x509Certificates.value eq "MIIDQzCCAqygAwIBAgICEAAwDQYJ"',
    'userName eq "esc \\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00"',
    'userName eq "Stra\u00dfe" or userName eq "STRASSE"',
    '\t userName\r\neq\n"x"  or\tdisplayName   eq  "y"\t',
    '((((a pr))))',
    'a eq 1 or b eq -0.5e+10 or c eq 18446744073709551616 or d eq null',
    'password eq "hunter2"',
    'x eq "\' OR 1=1 --" or y eq "%_\\\\" or z eq "$1"',
    # Attributes outside the search document: computed columns and joins.
    'meta.location eq "https://scim.example.com/scim/v2/Users/2819c223-7f76-453a-919d-413861904646"',
    'groups[$ref sw "https://scim.example.com/scim/v2/Groups/" and type eq "direct"]',
    'members[type eq "User" and display sw "b"].$ref co "/users/"',
    'meta[created gt "2020-01-01T00:00:00Z" and version eq "W/\\"3\\""]',
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value pr] and name[givenName ew "a"]',
]

def slug(s):
    return re.sub(r"[^A-Za-z0-9]+", "-", s)[:40].strip("-")

def write(target, items):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for i, data in enumerate(items):
        if isinstance(data, str):
            data = data.encode()
        name = "seed-%02d" % i
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)

def compact(v):
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))

BODIES = [
    # Entra ID create (its usual shape, including "True" strings).
    {"schemas": [USER, ENT], "externalId": "0a21f0f2-8d2a-4f8e-bf98-7b2aa5d16e0e",
     "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1", "active": True,
     "displayName": "Test User", "emails": [{"primary": True, "type": "work", "value": "Test_User@example.com"}],
     "meta": {"resourceType": "User"},
     "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
     "roles": [], ENT: {"employeeNumber": "1234", "department": "Sales", "manager": "6c1e1b17"}},
    # Okta create.
    {"schemas": [USER], "userName": "isaac.brock@example.com",
     "name": {"givenName": "Isaac", "familyName": "Brock"},
     "emails": [{"primary": True, "value": "isaac.brock@example.com", "type": "work"}],
     "displayName": "Isaac Brock", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
     "groups": [], "password": "1mz050nq", "active": True},
    # Okta with URN-qualified and dotted keys.
    {"schemas": [USER, ENT], "userName": "a@b.c",
     ENT + ":employeeNumber": "42", "name.givenName": "A", "name.familyName": "B",
     "urn:ietf:params:scim:schemas:core:2.0:User:title": "Dr"},
    # Entra ID quirks: string booleans, single value for a multi-valued attr.
    {"schemas": [USER], "userName": "quirk", "active": "False",
     "emails": {"value": "q@example.com", "type": "WORK", "primary": "True"},
     "phoneNumbers": [{"type": "mobile", "value": "+1-555-0100"}, {"type": "fax", "value": ""}]},
    # RFC 7643 full user.
    {"schemas": [USER, ENT], "id": "2819c223-7f76-453a-919d-413861904646", "externalId": "701984",
     "userName": "bjensen@example.com",
     "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara",
              "middleName": "Jane", "honorificPrefix": "Ms.", "honorificSuffix": "III"},
     "displayName": "Babs Jensen", "nickName": "Babs", "profileUrl": "https://login.example.com/bjensen",
     "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True},
                {"value": "babs@jensen.org", "type": "home"}],
     "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood",
                    "region": "CA", "postalCode": "91608", "country": "USA", "primary": True}],
     "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
     "ims": [{"value": "someaimhandle", "type": "aim"}],
     "photos": [{"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"}],
     "userType": "Employee", "title": "Tour Guide", "preferredLanguage": "en-US", "locale": "en-US",
     "timezone": "America/Los_Angeles", "active": True, "password": "t1meMa$heen",
     "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"}],
     "entitlements": [{"value": "Full-Time"}], "roles": [{"value": "Tour Guide"}],
     ENT: {"employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
           "division": "Theme Park", "department": "Tour Operations",
           "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}},
     "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z"}},
    # Groups: Entra ID, Okta, with members.
    {"schemas": [GROUP], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Group1DisplayName",
     "members": []},
    {"schemas": [GROUP], "displayName": "Test SCIMv2",
     "members": [{"value": "23a35c27-23d3-4c03-b4c5-6443c09e7173", "display": "test.user@okta.local"}]},
    {"schemas": [GROUP], "displayName": "Nested",
     "members": [{"value": "902c246b-6245-4190-8e05-00816be7344a", "type": "Group"},
                 {"value": "2819c223-7f76-453a-919d-413861904646", "type": "User", "$ref": "https://x/Users/1"}]},
    {"schemas": [GROUP], "displayName": "bad member", "members": [{"type": "Robot", "value": "x"}]},
    # Invalid or odd bodies.
    {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:user"], "USERNAME": "Case", "Name": {"GivenName": "c"}},
    {"userName": "noschemas", "emails": [{"value": "a", "primary": True}, {"value": "b", "primary": True}]},
    {"schemas": [USER], "userName": "   "},
    {"schemas": [USER], "userName": None, "userName ": "x"},
    {"schemas": "nope", "userName": "x"},
    {"schemas": [USER], "userName": "n", "name": "x"},
    {"schemas": [USER], "userName": "n", "active": 1, "x509Certificates": [{"value": "not base64!"}]},
    {"schemas": [USER], "userName": "n", "emails": [[{"value": "nested"}]], "ims": [None, {}, ""]},
    {"schemas": [USER], "userName": "n", ENT: "not an object"},
    {"schemas": [USER], "userName": "n", ENT: None, ENT + ":manager.value": "m"},
    {"schemas": [USER], "userName": "\u00c5sa \u00f1 \U0001f600 \u0000", "displayName": "Stra\u00dfe"},
    {"schemas": [USER], "userName": "n", "meta": {"created": "2024-13-45T99:00:00Z"}, "id": "client-id"},
    {"schemas": [USER], "userName": "dup", "emails": [{"value": "a@x"}, {"value": "a@x"}, {"VALUE": "a@x"}]},
    [1, 2, 3],
    "just a string",
    None,
]

PROJECTIONS = [
    "userName",
    "userName,emails.value",
    "displayName,members",
    "members.value\nmembers",
    "\nmembers",
    "\ngroups",
    "emails[type eq \"work\"]",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName,name.givenName",
    "USERNAME, Name.FamilyName ,,",
    "password,id\npassword",
    "meta.lastModified\nmeta",
    "\nurn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:core:2.0:User:emails\nemails.type",
]


PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

def patch(*ops):
    return {"schemas": [PATCH_OP], "Operations": list(ops)}

PATCHES = [
    # Entra ID: replace with a dotted path, a filtered path, an extension URN path.
    patch({"op": "Replace", "path": "displayName", "value": "Test User"},
          {"op": "Replace", "path": "name.familyName", "value": "Jensen"},
          {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "w@example.com"},
          {"op": "Replace", "path": ENT + ":employeeNumber", "value": "42"}),
    # Entra ID: disable with a string boolean.
    patch({"op": "Replace", "path": "active", "value": "False"}),
    # Entra ID: manager as a bare id, manager removal, addresses by type.
    patch({"op": "Add", "path": ENT + ":manager", "value": "26118915-6090-4610-87e4-49d8ca9f808d"}),
    patch({"op": "Remove", "path": ENT + ":manager"}),
    patch({"op": "Add", "path": 'addresses[type eq "work"].streetAddress', "value": "1 Main St"},
          {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0100"}),
    # Entra ID: group members, add and remove by a value array.
    patch({"op": "Add", "path": "members", "value": [{"value": "902c246b-6245-4190-8e05-00816be7344a"}]}),
    patch({"op": "Remove", "path": "members", "value": [{"value": "902c246b-6245-4190-8e05-00816be7344a"}]}),
    # Okta: path-less replace (deactivate, rename with members), URN-qualified and dotted keys.
    patch({"op": "replace", "value": {"active": False}}),
    patch({"op": "replace", "value": {"id": "2819c223-7f76-453a-919d-413861904646", "displayName": "Renamed",
                                      "members": [{"value": "902c246b-6245-4190-8e05-00816be7344a", "display": "x"}]}}),
    patch({"op": "replace", "value": {"name.givenName": "Barbara", ENT + ":department": "Ops",
                                      "urn:ietf:params:scim:schemas:core:2.0:User:title": "Dr", "schemas": [USER]}}),
    # Okta group push: remove one member by a value filter, add without type, replace with none.
    patch({"op": "remove", "path": 'members[value eq "902c246b-6245-4190-8e05-00816be7344a"]'}),
    patch({"op": "add", "path": "members", "value": [{"value": "2819c223-7f76-453a-919d-413861904646", "display": "b"}]}),
    patch({"op": "replace", "path": "members", "value": []}),
    # RFC 7644 examples and odd ones: delete, extension object, password, bad shapes.
    patch({"op": "delete", "path": "title"}, {"op": "add", "path": ENT, "value": {"costCenter": "4130"}}),
    patch({"op": "add", "path": "emails", "value": [{"value": "n@example.com", "type": "home", "primary": "True"}]}),
    patch({"op": "remove", "path": 'emails[type eq "work" and value ew "example.com"]'}),
    patch({"op": "replace", "path": "password", "value": "s3cret"}, {"op": "remove", "path": "password"}),
    patch({"op": "replace", "path": "id", "value": "other"}),
    patch({"op": "add", "path": "members[value eq \"x\"].display", "value": "y"}),
    {"Operations": [{"op": "Replace", "path": "userName", "value": None}]},
    {"schemas": ["nope"], "Operations": [{"op": "add", "value": {}}]},
    {"Operations": []},
]

PATHS = [
    "userName", "name.givenName", "emails", 'emails[type eq "work"]', 'emails[type eq "work"].value',
    'emails[primary eq "True"].display', 'members[value eq "902c246b-6245-4190-8e05-00816be7344a"]',
    "members.value", ENT, ENT + ":manager", ENT + ":manager.value",
    "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName", "  title  ", "$ref",
    'addresses[type eq "work" and (primary eq true or not (region pr))].streetAddress',
    'emails[value eq "a]b"].value', "a.b.c", "emails[type eq \"work\"]x", "urn:x:", ":a", "[", "]",
]

# Advanced-language expressions of subscription policies (issue 18), then
# policy documents in the shapes of issue 18 item 3.
POLICY_EXPRESSIONS = [
    "@hasAttribute('Environment','Dev') AND @isInGroups('Engineers')",
    "@hasAttribute('Environment', 'Dev') OR NOT @isInGroups('Contractors', 'Interns')",
    "@hasTagAsAttribute('Department', 'dataSource')",
    "@hasTagAsAttribute('Clearance', 'column') and not @hasTagAsGroup('dataSource')",
    "(@isInGroups('a') OR @isInGroups('b')) AND NOT (@isInGroups('c') AND @hasTagAsGroup('column'))",
    "not not ((@hasattribute('k', 'O\\'Brien \\\\ x')))",
    "@isInGroups('Data Team',\n  'Tour Guides')\r\n\tOR @hasAttribute('Environment','Prod')",
    "@isInGroups('a') AND",
    "@hasTagsAsAttribute('Department', 'dataSource')",
    "@isInGroups('unterminated",
]

POLICIES = [
    {"policyKey": "dev-only", "name": "Dev data only", "staged": False,
     "circumstanceOperator": "any",
     "circumstances": [{"type": "tags", "tag": "Environment.Dev"}],
     "actions": {"type": "entitlements",
                 "entitlements": {"operator": "any", "groups": ["Engineers"],
                                  "attributes": [{"name": "Environment", "value": "Dev"}]},
                 "approvals": [{"requiredPermission": "GOVERNANCE"}],
                 "automaticSubscription": True, "shareResponsibility": False}},
    {"policyKey": "by-department", "name": "Department tags",
     "circumstanceOperator": "all",
     "circumstances": [{"type": "anyTag"}, {"type": "columnTags", "tag": "Discovered"}],
     "actions": {"type": "entitlements", "shareResponsibility": True,
                 "advanced": "@hasTagAsAttribute('Department', 'dataSource') OR @hasTagAsGroup('column')"}},
    {"policyKey": "open", "name": "Untagged data", "circumstances": [{"type": "noTags"}],
     "actions": {"type": "anyone"}},
    {"policyKey": "ask", "name": "Ask first", "staged": True, "circumstances": [{"type": "all"}],
     "actions": {"type": "approval", "approvals": [{"requiredPermission": "GOVERNANCE"}]}},
    {"policyKey": "by-hand", "name": "By hand", "circumstances": [{"type": "tags", "tag": "PII"}],
     "actions": {"type": "manual", "shareResponsibility": True}},
]

def main():
    write("filter_parse", FILTERS)
    write("sql_translate", FILTERS)
    write("resource_normalize",
          [compact(b) for b in BODIES] + PROJECTIONS)
    write("patch_path", PATHS)
    write("patch_apply", [compact(p) for p in PATCHES])
    write("policy_parse", POLICY_EXPRESSIONS + [compact(p) for p in POLICIES])

if __name__ == "__main__":
    main()
