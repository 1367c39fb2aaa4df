-- The keys ClaimKeys looks for first: tasks not claimed yet. A key being
-- copied (its rows claimed: copying) leaves this index at once, so that a
-- claim does not walk past every key the other workers hold.
CREATE INDEX versions_todo ON versions (dest, key)
    WHERE status IN ('pending', 'failed') AND action IN ('copy', 'multipart', 'delete-marker');
