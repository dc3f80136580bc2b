-- PostgreSQL checks each column's type, but a text[] may hold NULL
-- elements or several dimensions, and a timestamptz may be infinite: values
-- a ticket has no place for, which readers cannot decode. These constraints
-- refuse them at write, whoever writes. NOT VALID: they apply to new writes
-- at once, without scanning (or failing on) the rows already there, which
-- readers skip if they cannot decode them.

-- +goose Up
ALTER TABLE tickets DROP CONSTRAINT IF EXISTS tickets_tags_plain;
ALTER TABLE tickets ADD CONSTRAINT tickets_tags_plain
    CHECK (CASE WHEN coalesce(array_ndims(tags), 1) = 1 THEN array_position(tags, NULL) IS NULL ELSE false END) NOT VALID;
ALTER TABLE tickets DROP CONSTRAINT IF EXISTS tickets_times_finite;
ALTER TABLE tickets ADD CONSTRAINT tickets_times_finite
    CHECK (isfinite(created_at) AND isfinite(updated_at)) NOT VALID;

-- +goose Down
ALTER TABLE tickets DROP CONSTRAINT IF EXISTS tickets_times_finite;
ALTER TABLE tickets DROP CONSTRAINT IF EXISTS tickets_tags_plain;
