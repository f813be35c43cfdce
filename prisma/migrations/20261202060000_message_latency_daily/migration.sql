-- The latency histograms of message_latency_hourly summed per UTC day, kept by the same fold: a week's
-- percentiles then merge a few thousand rows instead of an hour's buckets for each of 168 hours (125k rows at a
-- million messages, 120 ms a read). A read takes whole unchanged days from here and the rest by the hour.

-- CreateTable
CREATE TABLE "message_latency_daily" (
    "day" TIMESTAMPTZ(3) NOT NULL,
    "scope" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "bucket_ms" BIGINT NOT NULL,
    "messages" INTEGER NOT NULL,

    CONSTRAINT "message_latency_daily_pkey" PRIMARY KEY ("day","scope","key","kind","bucket_ms")
);

-- The days of what is already folded (the next fold keeps them up to date).
INSERT INTO "message_latency_daily" ("day", "scope", "key", "kind", "bucket_ms", "messages")
SELECT date_trunc('day', "hour" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', "scope", "key", "kind", "bucket_ms", sum("messages")::int
FROM "message_latency_hourly"
GROUP BY 1, 2, 3, 4, 5;
