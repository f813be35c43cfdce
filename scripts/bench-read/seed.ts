import type { Client } from 'pg';

/**
 * A delivery log as the write path leaves it, seeded set-based: `messages` rows spread evenly over `days`, newest
 * first, in the mix a Clerk and Supabase tenant sees (six in seven by email, mostly delivered, 1.5 % bounced, some
 * failed, expired and suppressed), each with its timeline, and the redacted content only for the last `bodyDays`
 * (the retention job has dropped the older ones). Recipients repeat (200,000 addresses), domains are skewed
 * (gmail, outlook, yahoo, icloud and a tail of 200).
 */
export async function seedLog(
  pg: Client,
  o: { messages: number; days: number; bodyDays: number },
): Promise<{ events: number; contents: number; ms: number }> {
  const started = performance.now();
  const spanMs = o.days * 86_400_000;
  await pg.query(
    `CREATE TEMP TABLE seed AS
     SELECT i, (i * 7919) % 10000 AS h, (i * 31) % 100 AS d, i % 7 = 0 AS sms,
            date_trunc('milliseconds', now() - ($2::float8 * (i - 0.5) / $1) * interval '1 millisecond') AS created_at
     FROM generate_series(1::bigint, $1::bigint) i`,
    [o.messages, spanMs],
  );
  await pg.query(`
    INSERT INTO messages (id, source, external_id, channel, template, recipient, recipient_domain, user_id, provider,
                          provider_message_id, status, attempts, subject, last_error, created_at, sent_at, delivered_at, updated_at)
    SELECT 'msg_' || lpad(to_hex((extract(epoch FROM created_at) * 1000)::bigint), 12, '0') || lpad(i::text, 10, '0'),
           src::"MessageSource", CASE WHEN src = 'clerk' THEN (CASE WHEN sms THEN 'sms_' ELSE 'ema_' END) || i END,
           (CASE WHEN sms THEN 'sms' ELSE 'email' END)::"Channel",
           (ARRAY['verification_code', 'reset_password_code', 'magic_link_sign_in', 'invitation', 'passkey_added'])[1 + (i / 3) % 5],
           CASE WHEN sms THEN '+1555' || lpad((i % 200000)::text, 7, '0') ELSE 'u' || (i % 200000) || '@' || domain END,
           CASE WHEN sms THEN NULL ELSE domain END,
           'user_' || (i % 100000),
           CASE WHEN status IN ('expired', 'suppressed') THEN NULL WHEN sms THEN 'twilio' WHEN (i * 13) % 100 < 15 THEN 'autosend' ELSE 'resend' END,
           CASE WHEN sent_at IS NOT NULL THEN 'pm_' || i END,
           status::"MessageStatus", 1,
           CASE WHEN NOT sms THEN '[redacted] is your verification code' END,
           CASE status WHEN 'failed' THEN 'provider rejected the recipient' WHEN 'expired' THEN 'not sent before the code expired' END,
           created_at, sent_at, delivered_at, coalesce(delivered_at, sent_at, created_at + interval '2 s')
    FROM (
      SELECT i, sms, created_at, status,
             CASE WHEN status IN ('delivered', 'sent', 'bounced', 'complained') THEN created_at + (200 + h % 1800) * interval '1 ms' END AS sent_at,
             CASE WHEN status IN ('delivered', 'complained') THEN created_at + (1200 + h % 9000) * interval '1 ms' END AS delivered_at,
             CASE WHEN d < 40 THEN 'gmail.com' WHEN d < 60 THEN 'outlook.com' WHEN d < 70 THEN 'yahoo.com' WHEN d < 75 THEN 'icloud.com'
                  ELSE 'd' || (i % 200) || '.example' END AS domain,
             (ARRAY['clerk', 'clerk', 'clerk', 'supabase', 'api'])[1 + i % 5] AS src
      FROM (
        SELECT *, CASE WHEN h < 8000 THEN 'delivered' WHEN h < 9000 THEN 'sent' WHEN h < 9150 THEN 'bounced' WHEN h < 9155 THEN 'complained'
                       WHEN h < 9355 THEN 'failed' WHEN h < 9455 THEN 'expired' WHEN h < 9505 THEN 'suppressed' ELSE 'delivered' END AS status
        FROM seed
      ) s
    ) m`);
  const events = await pg.query(`
    INSERT INTO message_events (message_id, type, occurred_at, provider, detail)
    SELECT m.id, e.type, e.at, e.provider, e.detail
    FROM messages m CROSS JOIN LATERAL (VALUES
      ('received', m.created_at, NULL, '{}'::jsonb),
      ('queued', m.created_at, NULL, '{}'::jsonb),
      (CASE WHEN m.sent_at IS NOT NULL THEN 'sent' END, m.sent_at, m.provider, jsonb_build_object('provider_message_id', m.provider_message_id, 'attempt', 1)),
      (CASE WHEN m.sent_at IS NOT NULL AND m.provider = 'resend' THEN 'sent' END, m.sent_at + interval '150 ms', m.provider,
       jsonb_build_object('provider_type', 'email.sent', 'provider_event_id', 'evt_s' || m.id)),
      (CASE WHEN m.delivered_at IS NOT NULL THEN 'delivered' END, m.delivered_at, m.provider,
       jsonb_build_object('provider_type', 'email.delivered', 'provider_event_id', 'evt_d' || m.id)),
      (CASE WHEN m.status = 'bounced' THEN 'bounced' END, m.sent_at + interval '2 s', m.provider,
       jsonb_build_object('provider_type', 'email.bounced', 'provider_event_id', 'evt_b' || m.id,
                          'bounce_kind', CASE WHEN right(m.id, 1) < '5' THEN 'hard' ELSE 'soft' END)),
      (CASE WHEN m.status = 'complained' THEN 'complained' END, m.delivered_at + interval '1 min', m.provider,
       jsonb_build_object('provider_type', 'email.complained', 'provider_event_id', 'evt_c' || m.id)),
      (CASE WHEN m.status = 'failed' THEN 'send_failed' END, m.created_at + interval '1 s', m.provider, jsonb_build_object('error', m.last_error)),
      (CASE WHEN m.status IN ('failed', 'expired', 'suppressed') THEN m.status::text END, m.created_at + interval '2 s', m.provider,
       jsonb_build_object('reason', coalesce(m.last_error, 'suppressed')))
    ) e(type, at, provider, detail)
    WHERE e.type IS NOT NULL`);
  const contents = await pg.query(
    `INSERT INTO message_contents (message_id, payload, redacted, headers, created_at)
     SELECT id, NULL, jsonb_build_object('channel', channel, 'subject', subject, 'text', 'Your code is [redacted]', 'html', '<p>Your code is <b>[redacted]</b></p>'),
            '{"X-Entity-Ref-ID": "bench"}'::jsonb, created_at
     FROM messages WHERE created_at >= now() - $1 * interval '1 day'`,
    [o.bodyDays],
  );
  await pg.query(`
    INSERT INTO suppressions (id, channel, recipient, reason, created_at)
    SELECT 'sup_' || lpad(i::text, 10, '0'), 'email', 'gone' || i || '@gmail.com', CASE WHEN i % 3 = 0 THEN 'complaint' ELSE 'hard_bounce' END,
           now() - i * interval '1 hour'
    FROM generate_series(1, 300) i`);
  await pg.query('DROP TABLE seed');
  await pg.query('VACUUM ANALYZE messages, message_events, message_contents, suppressions');
  return { events: events.rowCount ?? 0, contents: contents.rowCount ?? 0, ms: performance.now() - started };
}
