-- CreateIndex
CREATE INDEX "messages_updated_at_id_idx" ON "messages"("updated_at", "id");
