-- Births: which tickets the transaction now writing inserted. A departure
-- is a team a reader could have seen the ticket in, so the departure
-- trigger must know the team a ticket had when its transaction began. A row
-- already stamped by this transaction (OLD.change_pos is its id) was either
-- inserted by it — its teams so far were never seen, and a ticket moved on
-- from its first team left none — or changed by an earlier statement that
-- kept its team — the team it has is the one readers saw, and moving it is
-- a departure. 00005 took both for the first, and lost the departure of a
-- ticket whose status and then team one transaction changed: a dashboard
-- of that team that resumed kept the ticket for good.
--
-- A birth matters only until its transaction ends: the table is unlogged
-- (a crash aborts every transaction that wrote it) and pruned below the
-- horizon with the removals. A bulk load that never writes its rows again
-- in its transaction (ticketstream seed) sets ticketstream.bulk_load for
-- the transaction and records none: a COPY of a million rows would write a
-- million births.
--
-- A ticket whose id a transaction changes is looked up by both ids; the
-- feed does not follow id changes otherwise (the old id is not removed).

-- +goose Up
CREATE UNLOGGED TABLE IF NOT EXISTS ticket_births (
    id         bigint NOT NULL,
    change_pos bigint NOT NULL,
    PRIMARY KEY (id, change_pos)
);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_record_births() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ticketstream.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO ticket_births (id, change_pos)
    SELECT id, pg_current_xact_id()::text::bigint FROM born
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS tickets_record_births ON tickets;
CREATE TRIGGER tickets_record_births AFTER INSERT ON tickets
    REFERENCING NEW TABLE AS born
    FOR EACH STATEMENT EXECUTE FUNCTION ticketstream_record_births();

-- A ticket this transaction already wrote left its team unless the team
-- is one it had only inside the transaction: it was inserted here, or it
-- already left a team here (A to B to C left A only).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_record_departure() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    xid bigint := pg_current_xact_id()::text::bigint;
BEGIN
    IF OLD.change_pos IS DISTINCT FROM xid
       OR NOT (EXISTS (SELECT 1 FROM ticket_departures WHERE id = NEW.id AND change_pos = xid)
               OR EXISTS (SELECT 1 FROM ticket_births WHERE id IN (NEW.id, OLD.id) AND change_pos = xid)) THEN
        INSERT INTO ticket_departures (id, change_pos, team)
        VALUES (NEW.id, xid, OLD.team)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- A deletion leaves its removal and its departure from the team the ticket
-- had before this transaction: none if the transaction inserted it, and
-- the one recorded already if the transaction moved it.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_record_removals() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    xid bigint := pg_current_xact_id()::text::bigint;
BEGIN
    INSERT INTO ticket_removals (change_pos, id)
    SELECT xid, id FROM removed
    ON CONFLICT DO NOTHING;
    INSERT INTO ticket_departures (id, change_pos, team)
    SELECT r.id, xid, r.team FROM removed r
    WHERE NOT EXISTS (SELECT 1 FROM ticket_departures d WHERE d.id = r.id AND d.change_pos = xid)
      AND NOT EXISTS (SELECT 1 FROM ticket_births b WHERE b.id = r.id AND b.change_pos = xid)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_record_removals() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ticket_removals (change_pos, id)
    SELECT pg_current_xact_id()::text::bigint, id FROM removed
    ON CONFLICT DO NOTHING;
    INSERT INTO ticket_departures (id, change_pos, team)
    SELECT r.id, pg_current_xact_id()::text::bigint, r.team FROM removed r
    WHERE NOT EXISTS (SELECT 1 FROM ticket_departures d
                      WHERE d.id = r.id AND d.change_pos = pg_current_xact_id()::text::bigint)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ticketstream_record_departure() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.change_pos IS DISTINCT FROM pg_current_xact_id()::text::bigint THEN
        INSERT INTO ticket_departures (id, change_pos, team)
        VALUES (NEW.id, pg_current_xact_id()::text::bigint, OLD.team)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
DROP TRIGGER IF EXISTS tickets_record_births ON tickets;
DROP FUNCTION IF EXISTS ticketstream_record_births();
DROP TABLE IF EXISTS ticket_births;
