// Decoding the PostgreSQL feed's changed rows: change_pos, then
// ticketColumns, read with the streams' binary row decoder (see
// postgres_decode.go) rather than pgx.ScanRow, which plans each value's
// scan again for every row — most of a feed read's own CPU, and the
// garbage of eighteen allocations a row. A row the decoder refuses falls
// back to pgx's scan, which says why.

package gormstore

import (
	"encoding/binary"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ticketstream/ticketstream/domain"
)

// feedDecoders lends the feed's reads their row decoders: a read that
// finds no change takes none, and the strings a decoder interns (teams,
// statuses, agents, tags) are reused from read to read.
var feedDecoders = sync.Pool{New: func() any { return new(rowDecoder) }}

// feedFastDecodable reports whether fields are change_pos in binary and
// then ticketColumns as the fast decoder reads them.
func feedFastDecodable(fields []pgconn.FieldDescription) bool {
	return len(fields) == 1+len(pgColumnOIDs) &&
		fields[0].DataTypeOID == pgtype.Int8OID && fields[0].Format == pgtype.BinaryFormatCode &&
		fastDecodable(fields[1:])
}

// decodeFeedRow fills pos and t from one changed row whose fields are
// feedFastDecodable. It returns errBadRow, leaving t to be overwritten,
// for a row it cannot read.
func decodeFeedRow(d *rowDecoder, vals [][]byte, pos *int64, t *domain.Ticket) error {
	if len(vals) != 1+len(pgColumnOIDs) || len(vals[0]) != 8 {
		return errBadRow
	}
	for _, v := range vals {
		if v == nil { // NULL: every column is NOT NULL, but say so through pgx
			return errBadRow
		}
	}
	*pos = int64(binary.BigEndian.Uint64(vals[0]))
	row := vals[1:]
	d.text.fillRow(row[colSubject], row[colRequester])
	return d.decode(row, t)
}

// scanChangedRow fills pos and t from one changed row: with dec, when the
// read has one and it reads the row, else with pgx, whose error says what
// is wrong with the row.
func scanChangedRow(dec *rowDecoder, types *pgtype.Map, fields []pgconn.FieldDescription, vals [][]byte, pos *int64, t *domain.Ticket) error {
	if dec != nil && decodeFeedRow(dec, vals, pos, t) == nil {
		return nil
	}
	*t = domain.Ticket{}
	return pgx.ScanRow(types, fields, vals, pos, &t.ID, &t.Team, &t.Subject, (*string)(&t.Status), (*string)(&t.Priority),
		&t.Requester, &t.Assignee, &t.Tags, &t.CreatedAt, &t.UpdatedAt)
}
