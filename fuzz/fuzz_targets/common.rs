//! Shared by the fuzz targets: the time budget and sample documents.
#![allow(dead_code)]

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Issue 3 item 8: more than 100 ms for one input is a bug (a hang).
pub const BUDGET: Duration = Duration::from_millis(100);

/// CPU time this thread has used. Wall-clock time would count the time the
/// fuzzer waits for a CPU on a busy machine (CI runners, a shared host):
/// that made inputs that take 10 ms look like 240 ms ones.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `work` (one operation a request would do: a parse, a translation,
/// an evaluation) and returns its result; panics if it takes more than
/// [`BUDGET`] of CPU time twice in a row (the second run rules out one-off
/// costs such as first page faults), so a panic here means the input itself
/// is slow. Each operation is timed on its own: the targets repeat work
/// (several resource types, dialects, variants) that no request repeats.
pub fn timed<T>(what: &str, input: &[u8], work: impl Fn() -> T) -> T {
    let (cpu, wall) = (thread_cpu_time(), Instant::now());
    let out = work();
    let (first, first_wall) = (thread_cpu_time() - cpu, wall.elapsed());
    if first <= BUDGET {
        return out;
    }
    let (cpu, wall) = (thread_cpu_time(), Instant::now());
    drop(work());
    let (second, second_wall) = (thread_cpu_time() - cpu, wall.elapsed());
    if second > BUDGET {
        panic!(
            "{what}: input of {} bytes took {first:?}, then {second:?} of CPU time \
             ({first_wall:?}, {second_wall:?} of wall time; budget {BUDGET:?})",
            input.len()
        );
    }
    out
}

/// The sample documents: [`sample_user`], [`odd_user`], [`sample_group`].
pub static DOCS: LazyLock<[Value; 3]> =
    LazyLock::new(|| [sample_user(), odd_user(), sample_group()]);

/// A canonical stored User, as `normalize` plus the server would write it,
/// with every attribute type the schemas have.
pub fn sample_user() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "00u1abcd2EFGH3ijk4l5",
        "userName": "Barbara.Jensen@Example.com",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara",
            "middleName": "Jane",
            "honorificPrefix": "Ms.",
            "honorificSuffix": "III"
        },
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "profileUrl": "https://login.example.com/bjensen",
        "title": "Tour Guide",
        "userType": "Employee",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": true,
        "emails": [
            { "value": "bjensen@example.com", "type": "work", "primary": true },
            { "value": "babs@jensen.org", "type": "home" },
            { "value": "STRASSE@example.de", "type": "other", "display": "Straße" }
        ],
        "phoneNumbers": [
            { "value": "+1 555 555 5555", "type": "work" },
            { "value": "", "type": "mobile" }
        ],
        "ims": [{ "value": "someaimhandle", "type": "aim" }],
        "photos": [{ "value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo" }],
        "addresses": [{
            "type": "work",
            "streetAddress": "100 Universal City Plaza",
            "locality": "Hollywood",
            "region": "CA",
            "postalCode": "91608",
            "country": "USA",
            "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
            "primary": true
        }],
        "groups": [
            { "value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides", "type": "direct" },
            { "value": "fc348aa8-3835-40eb-a20b-c726e15c55b5", "display": "Employees", "type": "indirect" }
        ],
        "entitlements": [{ "value": "Full-Time", "primary": false }],
        "roles": [{ "value": "Tour Guide", "type": "job" }],
        "x509Certificates": [{ "value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw" }],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
            "manager": { "value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith" }
        },
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34.123+02:00",
            "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
            "version": "W/\"3694e05e9dff591\""
        }
    })
}

/// A User that is not canonical at all: wrong types, nulls, empty values,
/// keys in odd case, single values where arrays belong. The evaluator must
/// not panic on it (stored documents from older versions, PATCH targets).
pub fn odd_user() -> Value {
    json!({
        "USERNAME": "ÅSA",
        "name": "not an object",
        "displayName": null,
        "active": "True",
        "emails": { "value": "single@example.com", "TYPE": "Work", "primary": "true" },
        "phoneNumbers": [],
        "ims": [null, 3, "x", [], {}],
        "addresses": [{ "primary": 1 }],
        "groups": [{ "value": null }],
        "roles": "admin",
        "x509Certificates": [{ "value": 42 }],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {
            "Manager": "26118915",
            "employeeNumber": 701984,
            "department": ["a", "b"]
        },
        "meta": { "created": "yesterday", "lastModified": 1700000000, "version": [] }
    })
}

pub fn sample_group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "externalId": "8a7c2b2e-3c8d-4bbf-9b4a-0d1f1c1a2b3c",
        "displayName": "Tour Guides",
        "members": [
            { "value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen", "type": "User" },
            { "value": "902c246b-6245-4190-8e05-00816be7344a", "type": "Group" }
        ],
        "meta": {
            "resourceType": "Group",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff592\""
        }
    })
}
