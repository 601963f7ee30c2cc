//! Placeholder; filled by the issue-15 work.
