-- Columns a message only gets once it is sent: indexing unsent rows made every accepted message pay for
-- five index entries nothing reads.

-- DropIndex
DROP INDEX "messages_provider_created_at_idx";

-- DropIndex
DROP INDEX "messages_provider_message_id_idx";

-- DropIndex
DROP INDEX "messages_sent_at_idx";

-- DropIndex
DROP INDEX "messages_provider_sent_at_idx";

-- DropIndex
DROP INDEX "messages_recipient_domain_sent_at_idx";

-- CreateIndex
CREATE INDEX "messages_provider_created_at_idx" ON "messages"("provider", "created_at" DESC) WHERE (provider IS NOT NULL);

-- CreateIndex
CREATE INDEX "messages_provider_message_id_idx" ON "messages"("provider_message_id") WHERE (provider_message_id IS NOT NULL);

-- CreateIndex
CREATE INDEX "messages_sent_at_idx" ON "messages"("sent_at") WHERE (sent_at IS NOT NULL);

-- CreateIndex
CREATE INDEX "messages_provider_sent_at_idx" ON "messages"("provider", "sent_at") WHERE (sent_at IS NOT NULL);

-- CreateIndex
CREATE INDEX "messages_recipient_domain_sent_at_idx" ON "messages"("recipient_domain", "sent_at") WHERE (sent_at IS NOT NULL);
