-- The triggers that record removals, departures and births write tables
-- other programs have no business writing. As plain (SECURITY INVOKER)
-- functions they ran with the writer's rights, so a program granted only
-- INSERT, UPDATE and DELETE on tickets failed on ticket_births,
-- ticket_departures or ticket_removals. They now run with the rights of
-- their owner, the role that applied the migrations, with the search_path
-- of the migration fixed so that a writer's own search_path cannot
-- redirect their table names.
--
-- A later migration that replaces one of these functions (CREATE OR
-- REPLACE FUNCTION) must say SECURITY DEFINER again: replacing resets it.

-- +goose Up
ALTER FUNCTION ticketstream_record_removals() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER FUNCTION ticketstream_record_departure() SECURITY DEFINER SET search_path FROM CURRENT;
ALTER FUNCTION ticketstream_record_births() SECURITY DEFINER SET search_path FROM CURRENT;

-- +goose Down
ALTER FUNCTION ticketstream_record_births() SECURITY INVOKER RESET search_path;
ALTER FUNCTION ticketstream_record_departure() SECURITY INVOKER RESET search_path;
ALTER FUNCTION ticketstream_record_removals() SECURITY INVOKER RESET search_path;
