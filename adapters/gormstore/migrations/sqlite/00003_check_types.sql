-- SQLite stores whatever value it is given, whatever the column's declared
-- type: a program that writes updated_at as text ('2026-05-01T10:00:00Z')
-- instead of Unix microseconds leaves a row no reader can decode. These
-- triggers refuse such a write, with a message that says what each column
-- must hold. SQLite cannot add a constraint to an existing table, and
-- rebuilding it as STRICT would copy every row and fail on a database that
-- already holds a bad one; triggers apply at once and leave existing rows
-- as they are (readers skip, log and count a row they cannot decode).
--
-- A value that SQLite converts to the column's type on its own (the text
-- '1700000000000000' into an INTEGER column, an integer into a TEXT one) is
-- stored converted, and passes.

-- +goose Up
-- +goose StatementBegin
CREATE TRIGGER IF NOT EXISTS tickets_check_types_insert BEFORE INSERT ON tickets
BEGIN
    SELECT RAISE(ABORT, 'tickets: team, subject, status, priority, requester, assignee and tags must be text')
    WHERE typeof(NEW.team) <> 'text' OR typeof(NEW.subject) <> 'text' OR typeof(NEW.status) <> 'text'
       OR typeof(NEW.priority) <> 'text' OR typeof(NEW.requester) <> 'text' OR typeof(NEW.assignee) <> 'text'
       OR typeof(NEW.tags) <> 'text';
    SELECT RAISE(ABORT, 'tickets: created_at, updated_at and change_pos must be integers (updated_at and created_at in Unix microseconds)')
    WHERE typeof(NEW.created_at) <> 'integer' OR typeof(NEW.updated_at) <> 'integer' OR typeof(NEW.change_pos) <> 'integer';
    SELECT RAISE(ABORT, 'tickets: tags must be a JSON array of strings')
    WHERE CASE WHEN json_valid(NEW.tags)
          THEN json_type(NEW.tags) <> 'array' OR EXISTS (SELECT 1 FROM json_each(NEW.tags) WHERE type <> 'text')
          ELSE 1 END;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER IF NOT EXISTS tickets_check_types_update BEFORE UPDATE ON tickets
BEGIN
    SELECT RAISE(ABORT, 'tickets: team, subject, status, priority, requester, assignee and tags must be text')
    WHERE typeof(NEW.team) <> 'text' OR typeof(NEW.subject) <> 'text' OR typeof(NEW.status) <> 'text'
       OR typeof(NEW.priority) <> 'text' OR typeof(NEW.requester) <> 'text' OR typeof(NEW.assignee) <> 'text'
       OR typeof(NEW.tags) <> 'text';
    SELECT RAISE(ABORT, 'tickets: created_at, updated_at and change_pos must be integers (updated_at and created_at in Unix microseconds)')
    WHERE typeof(NEW.created_at) <> 'integer' OR typeof(NEW.updated_at) <> 'integer' OR typeof(NEW.change_pos) <> 'integer';
    SELECT RAISE(ABORT, 'tickets: tags must be a JSON array of strings')
    WHERE CASE WHEN json_valid(NEW.tags)
          THEN json_type(NEW.tags) <> 'array' OR EXISTS (SELECT 1 FROM json_each(NEW.tags) WHERE type <> 'text')
          ELSE 1 END;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER IF EXISTS tickets_check_types_update;
DROP TRIGGER IF EXISTS tickets_check_types_insert;
