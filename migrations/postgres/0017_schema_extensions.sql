-- Custom schema extensions an IAM declares (issue 20, item 4): a JSON
-- array of {id, resourceType, attributes}, as the admin API took it after
-- validation. Read through the directory's short-lived cache.
ALTER TABLE iams ADD COLUMN schema_extensions jsonb NOT NULL DEFAULT '[]';
