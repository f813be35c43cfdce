-- The last-1,000-sends rates look up each of those messages' bounces and complaints. Along (message_id,
-- occurred_at) that visits every event of every message; this index holds only the few bounces and complaints,
-- and a message's send adds nothing to it.

-- CreateIndex
CREATE INDEX "message_events_bounce_complaint_message_id_idx" ON "message_events"("message_id") WHERE (type = ANY (ARRAY['bounced'::text, 'complained'::text]));
