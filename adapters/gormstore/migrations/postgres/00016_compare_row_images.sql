-- The feed's UPDATE trigger compares rows by their stored images.
--
-- ticketstream_stamp_update (00015) skipped a row the update left as it
-- was with pg_catalog.record_eq(NEW, OLD), which compares each column
-- with its type's equality operator. A column of a type that has none —
-- json, point, xml — which a help desk may add to tickets for its own
-- use, made every UPDATE that left the columns before it as they were
-- fail ("could not identify an equality operator for type json"): the
-- writer's statement, not only the feed. And under a case-insensitive
-- collation on team, a change of case only was equal: neither stamped
-- nor recorded as a departure, so dashboards never heard of it, though
-- they match teams byte for byte.
--
-- record_image_eq compares the columns' stored images (detoasted), which
-- every type has: a row is skipped when it is byte for byte as it was.
-- Values equal by their type but stored differently (numeric 1.0 and
-- 1.00, json with other spacing) are now stamped, and sent again
-- unchanged, which costs a message and loses nothing. The team test
-- compares under the C collation, byte for byte.
--
-- CREATE OR REPLACE keeps the function's owner, rights and triggers, and
-- takes no lock on tickets.

-- +goose Up
-- +goose StatementBegin
DO $migration$
BEGIN
    EXECUTE format($create$
CREATE OR REPLACE FUNCTION %1$I.ticketstream_stamp_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    stamp pg_catalog.int8;
BEGIN
    -- On tickets alone: EXECUTE, which attaching it elsewhere needs, is
    -- the owner's (below), but a grant of a role's own or a restore
    -- without privileges could give it back.
    IF TG_RELID OPERATOR(pg_catalog.<>) %2$L::pg_catalog.regclass::pg_catalog.oid THEN
        RAISE EXCEPTION 'the change feed''s trigger functions fire on its table of tickets only';
    END IF;
    -- A row the update leaves byte for byte as it was is not stamped. The
    -- rows are compared by their stored images, not with each column's
    -- equality operator: a column of a type that has none (json, point,
    -- xml), which an owner may add to tickets, made record_eq fail, and
    -- with it every UPDATE that reached that column; and under a
    -- case-insensitive collation a change of case was equal, and went
    -- unsent. Two NULL fields are equal, as they were.
    IF pg_catalog.record_image_eq(NEW, OLD) THEN
        RETURN NEW;
    END IF;
    stamp := pg_catalog.pg_current_xact_id()::pg_catalog.text::pg_catalog.int8;
    -- Each test that reads a table is inside one that does not: plpgsql
    -- evaluates a condition without a query itself, and runs one with a
    -- query through the executor, which for every row would cost more than
    -- the WHEN clauses did.
    --
    -- As ticketstream_record_departure did (00010): once per ticket and
    -- transaction, and not for a ticket born in it.
    -- Byte for byte, as dashboards compare teams: under a case-insensitive
    -- collation a change of case is a move.
    IF pg_catalog.texteq(NEW.team COLLATE pg_catalog."C", OLD.team COLLATE pg_catalog."C") IS NOT TRUE THEN
        IF OLD.change_pos OPERATOR(pg_catalog.<>) stamp
           OR NOT (EXISTS (SELECT 1 FROM %1$I.ticket_departures d
                           WHERE d.id OPERATOR(pg_catalog.=) OLD.id AND d.change_pos OPERATOR(pg_catalog.=) stamp)
                   OR EXISTS (SELECT 1 FROM %1$I.ticket_births b
                              WHERE (b.id OPERATOR(pg_catalog.=) NEW.id OR b.id OPERATOR(pg_catalog.=) OLD.id)
                                AND b.change_pos OPERATOR(pg_catalog.=) stamp)) THEN
            INSERT INTO %1$I.ticket_departures (id, change_pos, team)
            VALUES (OLD.id, stamp, OLD.team)
            ON CONFLICT DO NOTHING;
            IF pg_catalog.int8eq(NEW.id, OLD.id) IS NOT TRUE THEN
                IF NOT EXISTS (SELECT 1 FROM %1$I.tickets t WHERE t.id OPERATOR(pg_catalog.=) NEW.id) THEN
                    INSERT INTO %1$I.ticket_departures (id, change_pos, team)
                    VALUES (NEW.id, stamp, OLD.team)
                    ON CONFLICT DO NOTHING;
                END IF;
            END IF;
        END IF;
    END IF;
    -- As ticketstream_record_new_id did (00014): not an id another ticket
    -- has, which the update can only fail on or be cancelled for.
    IF pg_catalog.int8eq(NEW.id, OLD.id) IS NOT TRUE THEN
        IF NOT EXISTS (SELECT 1 FROM %1$I.tickets t WHERE t.id OPERATOR(pg_catalog.=) NEW.id) THEN
            INSERT INTO %1$I.ticket_births (id, change_pos) VALUES (NEW.id, stamp)
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    NEW.change_pos := stamp;
    RETURN NEW;
END
$$
$create$, current_schema(), format('%I.tickets', current_schema()));
END
$migration$;
-- +goose StatementEnd

-- +goose Down
-- 00015's function.
-- +goose StatementBegin
DO $migration$
BEGIN
    EXECUTE format($create$
CREATE OR REPLACE FUNCTION %1$I.ticketstream_stamp_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    stamp pg_catalog.int8;
BEGIN
    -- On tickets alone: EXECUTE, which attaching it elsewhere needs, is
    -- the owner's (below), but a grant of a role's own or a restore
    -- without privileges could give it back.
    IF TG_RELID OPERATOR(pg_catalog.<>) %2$L::pg_catalog.regclass::pg_catalog.oid THEN
        RAISE EXCEPTION 'the change feed''s trigger functions fire on its table of tickets only';
    END IF;
    -- As zz_ticketstream_stamp's WHEN (OLD.* IS DISTINCT FROM NEW.*): the
    -- record comparison takes two NULL fields for equal.
    IF pg_catalog.record_eq(NEW, OLD) THEN
        RETURN NEW;
    END IF;
    stamp := pg_catalog.pg_current_xact_id()::pg_catalog.text::pg_catalog.int8;
    -- Each test that reads a table is inside one that does not: plpgsql
    -- evaluates a condition without a query itself, and runs one with a
    -- query through the executor, which for every row would cost more than
    -- the WHEN clauses did.
    --
    -- As ticketstream_record_departure did (00010): once per ticket and
    -- transaction, and not for a ticket born in it.
    IF pg_catalog.texteq(NEW.team, OLD.team) IS NOT TRUE THEN
        IF OLD.change_pos OPERATOR(pg_catalog.<>) stamp
           OR NOT (EXISTS (SELECT 1 FROM %1$I.ticket_departures d
                           WHERE d.id OPERATOR(pg_catalog.=) OLD.id AND d.change_pos OPERATOR(pg_catalog.=) stamp)
                   OR EXISTS (SELECT 1 FROM %1$I.ticket_births b
                              WHERE (b.id OPERATOR(pg_catalog.=) NEW.id OR b.id OPERATOR(pg_catalog.=) OLD.id)
                                AND b.change_pos OPERATOR(pg_catalog.=) stamp)) THEN
            INSERT INTO %1$I.ticket_departures (id, change_pos, team)
            VALUES (OLD.id, stamp, OLD.team)
            ON CONFLICT DO NOTHING;
            IF pg_catalog.int8eq(NEW.id, OLD.id) IS NOT TRUE THEN
                IF NOT EXISTS (SELECT 1 FROM %1$I.tickets t WHERE t.id OPERATOR(pg_catalog.=) NEW.id) THEN
                    INSERT INTO %1$I.ticket_departures (id, change_pos, team)
                    VALUES (NEW.id, stamp, OLD.team)
                    ON CONFLICT DO NOTHING;
                END IF;
            END IF;
        END IF;
    END IF;
    -- As ticketstream_record_new_id did (00014): not an id another ticket
    -- has, which the update can only fail on or be cancelled for.
    IF pg_catalog.int8eq(NEW.id, OLD.id) IS NOT TRUE THEN
        IF NOT EXISTS (SELECT 1 FROM %1$I.tickets t WHERE t.id OPERATOR(pg_catalog.=) NEW.id) THEN
            INSERT INTO %1$I.ticket_births (id, change_pos) VALUES (NEW.id, stamp)
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    NEW.change_pos := stamp;
    RETURN NEW;
END
$$
$create$, current_schema(), format('%I.tickets', current_schema()));
END
$migration$;
-- +goose StatementEnd
