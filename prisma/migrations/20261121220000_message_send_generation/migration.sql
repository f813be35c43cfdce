-- AlterTable
ALTER TABLE "messages" ADD COLUMN     "send_generation" INTEGER NOT NULL DEFAULT 0;
