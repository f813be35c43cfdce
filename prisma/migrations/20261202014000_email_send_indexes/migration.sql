-- The deliverability stats read each provider's and each domain's newest email sends backwards along these. With
-- SMS in the index too, a provider that sends only SMS (Twilio) walked every one of its sends looking for an
-- email it would never find: the cost grew with the log. Email sends only, so each scope stops at its 1,000th
-- row; SMS sends now add no entry to either. The index of every send by sent_at alone goes: the planner walked it,
-- filtering on provider, in place of the provider's own (it assumes provider and channel independent, so an
-- SMS-only provider looks as likely to have email sends as any), and nothing else needs it.

-- DropIndex
DROP INDEX "messages_sent_at_idx";

-- DropIndex
DROP INDEX "messages_provider_sent_at_idx";

-- DropIndex
DROP INDEX "messages_recipient_domain_sent_at_idx";

-- CreateIndex
CREATE INDEX "messages_provider_sent_at_idx" ON "messages"("provider", "sent_at") WHERE ((sent_at IS NOT NULL) AND (channel = 'email'::"Channel"));

-- CreateIndex
CREATE INDEX "messages_recipient_domain_sent_at_idx" ON "messages"("recipient_domain", "sent_at") WHERE ((sent_at IS NOT NULL) AND (channel = 'email'::"Channel"));
