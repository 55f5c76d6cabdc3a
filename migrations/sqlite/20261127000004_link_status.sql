-- What an MQTT door's retained status topic last said (`online`, or `offline` from its
-- last will) and when; NULL for doors that talk HTTP.
ALTER TABLE devices ADD COLUMN link_status TEXT;
ALTER TABLE devices ADD COLUMN link_status_at TEXT;
