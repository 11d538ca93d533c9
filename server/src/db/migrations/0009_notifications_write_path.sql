ALTER TABLE "deliveries" DROP CONSTRAINT "deliveries_org_id_organizations_id_fk";
--> statement-breakpoint
DROP INDEX "notifications_event_id_index";--> statement-breakpoint
CREATE INDEX "notifications_event_id_index" ON "notifications" USING btree ("event_id") WHERE "notifications"."event_id" is not null;