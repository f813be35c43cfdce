-- AlterTable
ALTER TABLE "suppressions" ADD COLUMN     "expiry_handled_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "messages_provider_sent_at_idx" ON "messages"("provider", "sent_at");

-- CreateIndex
CREATE INDEX "messages_recipient_domain_sent_at_idx" ON "messages"("recipient_domain", "sent_at");

-- CreateIndex
CREATE INDEX "suppressions_expiry_handled_at_expires_at_idx" ON "suppressions"("expiry_handled_at", "expires_at");
