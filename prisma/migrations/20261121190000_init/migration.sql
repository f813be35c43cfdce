-- CreateEnum
CREATE TYPE "MessageSource" AS ENUM ('clerk', 'supabase', 'api', 'verification');

-- CreateEnum
CREATE TYPE "Channel" AS ENUM ('email', 'sms');

-- CreateEnum
CREATE TYPE "MessageStatus" AS ENUM ('queued', 'sending', 'sent', 'delivered', 'delayed', 'bounced', 'complained', 'failed', 'suppressed', 'expired');

-- CreateTable
CREATE TABLE "messages" (
    "id" TEXT NOT NULL,
    "source" "MessageSource" NOT NULL,
    "external_id" TEXT,
    "channel" "Channel" NOT NULL,
    "template" TEXT,
    "recipient" TEXT NOT NULL,
    "recipient_domain" TEXT,
    "user_id" TEXT,
    "provider" TEXT,
    "provider_message_id" TEXT,
    "status" "MessageStatus" NOT NULL DEFAULT 'queued',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "subject" TEXT,
    "last_error" TEXT,
    "expires_at" TIMESTAMPTZ(3),
    "lease_until" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "sent_at" TIMESTAMPTZ(3),
    "delivered_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "messages_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "message_contents" (
    "message_id" TEXT NOT NULL,
    "payload" JSONB,
    "redacted" JSONB NOT NULL,
    "headers" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "message_contents_pkey" PRIMARY KEY ("message_id")
);

-- CreateTable
CREATE TABLE "message_events" (
    "id" BIGSERIAL NOT NULL,
    "message_id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "provider" TEXT,
    "detail" JSONB NOT NULL DEFAULT '{}',
    "dedupe_key" TEXT,

    CONSTRAINT "message_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "outbox_messages" (
    "message_id" TEXT NOT NULL,
    "channel" "Channel" NOT NULL,
    "to" TEXT NOT NULL,
    "from" TEXT,
    "subject" TEXT,
    "html" TEXT,
    "text" TEXT,
    "headers" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "outbox_messages_pkey" PRIMARY KEY ("message_id")
);

-- CreateTable
CREATE TABLE "suppressions" (
    "id" TEXT NOT NULL,
    "channel" "Channel" NOT NULL,
    "recipient" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "source_message_id" TEXT,
    "detail" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3),

    CONSTRAINT "suppressions_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "messages_created_at_id_idx" ON "messages"("created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "messages_recipient_created_at_idx" ON "messages"("recipient", "created_at" DESC);

-- CreateIndex
CREATE INDEX "messages_user_id_created_at_idx" ON "messages"("user_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "messages_status_created_at_idx" ON "messages"("status", "created_at" DESC);

-- CreateIndex
CREATE INDEX "messages_provider_created_at_idx" ON "messages"("provider", "created_at" DESC);

-- CreateIndex
CREATE INDEX "messages_template_created_at_idx" ON "messages"("template", "created_at" DESC);

-- CreateIndex
CREATE INDEX "messages_channel_created_at_idx" ON "messages"("channel", "created_at" DESC);

-- CreateIndex
CREATE INDEX "messages_provider_message_id_idx" ON "messages"("provider_message_id");

-- CreateIndex
CREATE INDEX "messages_status_updated_at_idx" ON "messages"("status", "updated_at");

-- CreateIndex
CREATE UNIQUE INDEX "messages_source_external_id_key" ON "messages"("source", "external_id");

-- CreateIndex
CREATE INDEX "message_contents_created_at_idx" ON "message_contents"("created_at");

-- CreateIndex
CREATE UNIQUE INDEX "message_events_dedupe_key_key" ON "message_events"("dedupe_key");

-- CreateIndex
CREATE INDEX "message_events_message_id_occurred_at_idx" ON "message_events"("message_id", "occurred_at");

-- CreateIndex
CREATE INDEX "message_events_type_occurred_at_idx" ON "message_events"("type", "occurred_at");

-- CreateIndex
CREATE INDEX "outbox_messages_created_at_idx" ON "outbox_messages"("created_at");

-- CreateIndex
CREATE INDEX "suppressions_created_at_idx" ON "suppressions"("created_at");

-- CreateIndex
CREATE UNIQUE INDEX "suppressions_channel_recipient_key" ON "suppressions"("channel", "recipient");

-- AddForeignKey
ALTER TABLE "message_contents" ADD CONSTRAINT "message_contents_message_id_fkey" FOREIGN KEY ("message_id") REFERENCES "messages"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "message_events" ADD CONSTRAINT "message_events_message_id_fkey" FOREIGN KEY ("message_id") REFERENCES "messages"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "outbox_messages" ADD CONSTRAINT "outbox_messages_message_id_fkey" FOREIGN KEY ("message_id") REFERENCES "messages"("id") ON DELETE CASCADE ON UPDATE CASCADE;
