-- Hourly rollups of the messages for /api/stats and the dashboard (src/deliverability/stats-rollup.ts), by the
-- hour a message was accepted: counts per status and email sends, and latency histograms, per provider
-- ('' for none) and per recipient domain. Kept by a periodic fold that recomputes every hour holding a message
-- changed since its watermark; a read takes whole hours from here and reads the rest (the window's partial
-- hours, and hours changed since the last fold) from messages.

-- CreateTable
CREATE TABLE "message_stats_hourly" (
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "scope" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "status" "MessageStatus" NOT NULL,
    "messages" INTEGER NOT NULL,
    "email_sent" INTEGER NOT NULL,

    CONSTRAINT "message_stats_hourly_pkey" PRIMARY KEY ("hour","scope","key","status")
);

-- CreateTable
CREATE TABLE "message_latency_hourly" (
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "scope" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "bucket_ms" BIGINT NOT NULL,
    "messages" INTEGER NOT NULL,

    CONSTRAINT "message_latency_hourly_pkey" PRIMARY KEY ("hour","scope","key","kind","bucket_ms")
);

-- CreateTable
CREATE TABLE "rollup_watermarks" (
    "name" TEXT NOT NULL,
    "folded_until" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "rollup_watermarks_pkey" PRIMARY KEY ("name")
);

-- The window's bounces and complaints are read live, by when they happened. Along (type, occurred_at) the
-- planner prefers the partial index by message_id and reads every bounce in the log; this one holds only
-- bounces and complaints, by time, and a send adds nothing to it.
-- CreateIndex
CREATE INDEX "message_events_bounce_complaint_occurred_at_idx" ON "message_events"("occurred_at") WHERE (type = ANY (ARRAY['bounced'::text, 'complained'::text]));
