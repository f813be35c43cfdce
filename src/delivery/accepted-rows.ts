import { sqlOf, type NamedStatement } from '../db/sql';
import type { Channel, MessageSource } from '../generated/prisma/enums';
import type { MessagePayload } from './content';
import type { StoreContext } from './message-changes';

/** A message as the group INSERT reads it: the columns of `insertAccepted`'s recordset. */
export interface AcceptedRow {
  id: string;
  source: MessageSource;
  external_id: string | null;
  channel: Channel;
  template: string | null;
  recipient: string;
  recipient_domain: string | null;
  user_id: string | null;
  subject: string | null;
  expires_at: Date | null;
  created_at: Date;
  payload: MessagePayload;
  redacted: MessagePayload;
  detail: Record<string, unknown>;
  /** The request's trace, which the message's send and later events join (null when tracing is off). */
  traceparent: string | null;
}

/**
 * The same statement text for every group, whose only parameter is the group as a JSON array: the driver
 * binds one value however large the group, and Postgres sees one statement shape, prepared once per connection.
 */
const INSERT_ACCEPTED: NamedStatement = {
  name: 'accept_insert',
  text: `
  WITH input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(
      id text, source text, external_id text, channel text, template text, recipient text, recipient_domain text,
      user_id text, subject text, expires_at timestamptz, created_at timestamptz, payload jsonb, redacted jsonb,
      detail jsonb, traceparent text)
  ), m AS (
    INSERT INTO messages (id, source, external_id, channel, template, recipient, recipient_domain, user_id,
                          subject, expires_at, created_at, updated_at, traceparent)
    SELECT id, source::"MessageSource", external_id, channel::"Channel", template, recipient, recipient_domain,
           user_id, subject, expires_at, created_at, created_at, traceparent
    FROM input
    ON CONFLICT (source, external_id) DO NOTHING
    RETURNING id
  ), content AS (
    INSERT INTO message_contents (message_id, payload, redacted, expires_at, created_at)
    SELECT i.id, i.payload, i.redacted, i.expires_at, i.created_at FROM input i JOIN m ON m.id = i.id
  ), event AS (
    INSERT INTO message_events (message_id, type, occurred_at, detail)
    SELECT i.id, 'received', i.created_at, i.detail FROM input i JOIN m ON m.id = i.id
  )
  SELECT id FROM m`,
};

/**
 * One statement: each message with its content and `received` event, or none of it. Returns the ids inserted.
 * Run on the pool directly: through Prisma's raw query the ORM's own work cost more than the statement.
 */
export async function recordAccepted({ db, changed }: StoreContext, rows: AcceptedRow[]): Promise<Set<string>> {
  const inserted = await sqlOf(db).rows<{ id: string }>(INSERT_ACCEPTED, [JSON.stringify(rows)]);
  const ids = new Set(inserted.map((r) => r.id));
  for (const row of rows) {
    if (ids.has(row.id)) changed(row.id, 'queued', { type: 'received', detail: row.detail }, row.created_at);
  }
  return ids;
}
