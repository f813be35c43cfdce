-- The last-1,000-sends rates as the deliverability check last computed them (every minute, for the alerts):
-- /api/stats reads them from here instead of walking 1,000 sends and their bounces for each of up to 50
-- recipient domains on every request. One row per scope ('all', 'provider', 'domain') and key.

-- CreateTable
CREATE TABLE "last_sends_rates" (
    "scope" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "sent" INTEGER NOT NULL,
    "hard_bounces" INTEGER NOT NULL,
    "complaints" INTEGER NOT NULL,
    "computed_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "last_sends_rates_pkey" PRIMARY KEY ("scope","key")
);
