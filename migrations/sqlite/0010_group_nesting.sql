-- The nesting check of group writes walks down from a group through the
-- groups inside it; this index holds only the memberships of groups in
-- groups, so the walk never reads the (many) user memberships.
CREATE INDEX group_members_nested ON group_members (group_id, member_id)
    WHERE member_kind = 'Group';
