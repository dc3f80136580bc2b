// Package app is ticketstream's core: it reads tickets from a
// ports.TicketSource, encodes them to JSON into buffers from its own pool, and
// hands each buffer to a ports.ChunkSink as soon as it passes the chunk
// threshold. It knows nothing of SQL, HTTP or sockets.
//
// The design follows the buffer-pool analysis it grew from (docs/analysis.md)
// (50KB pooled buffers, 32KB chunks, 1000-row batches) and fixes its two
// flaws: a buffer handed to the consumer can no longer be returned to the
// pool by the producer (see ports.Chunk), and rows are appended by an encoder
// that allocates nothing instead of json.Marshal per row.
package app
