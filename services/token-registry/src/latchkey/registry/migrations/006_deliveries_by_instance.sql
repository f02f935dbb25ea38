-- An instance that was not running when a change came (it started, or restarted, later)
-- took the change with the snapshot it loaded. It says so in its receipt of the snapshot's
-- sequence number (caught_up); for the changes before that one it has no receipt of its
-- own, and its first receipt after each is when it caught up: the index finds it in one
-- probe per instance.
ALTER TABLE registry.deliveries ADD COLUMN caught_up boolean NOT NULL DEFAULT false;
CREATE INDEX deliveries_by_instance ON registry.deliveries (instance_id, seq);
