"""Number events at commit on PostgreSQL.

Events are inserted with a provisional negative number from ``event_draft_seq``;
a deferred constraint trigger gives each its shop's (and topic's) next number
inside the COMMIT, in the order they were inserted. The shop's counter row is
locked from there to the end of the commit only. SQLite numbers in the session
(one writer at a time) and needs nothing here.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 23:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NUMBER_EVENT = """
CREATE FUNCTION xiaoer_number_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    shop_number bigint;
    topic_number bigint := 0;
BEGIN
    INSERT INTO event_counter (shop_id, topic, last_seq) VALUES (NEW.shop_id, '', 1)
    ON CONFLICT (shop_id, topic) DO UPDATE SET last_seq = event_counter.last_seq + 1
    RETURNING last_seq INTO shop_number;
    IF NEW.topic <> '' THEN
        INSERT INTO event_counter (shop_id, topic, last_seq) VALUES (NEW.shop_id, NEW.topic, 1)
        ON CONFLICT (shop_id, topic) DO UPDATE SET last_seq = event_counter.last_seq + 1
        RETURNING last_seq INTO topic_number;
    END IF;
    UPDATE event SET seq = shop_number, topic_seq = topic_number
    WHERE shop_id = NEW.shop_id AND seq = NEW.seq;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE SEQUENCE event_draft_seq")
    op.execute(NUMBER_EVENT)
    op.execute(
        "CREATE CONSTRAINT TRIGGER event_number_at_commit AFTER INSERT ON event "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.seq < 0) "
        "EXECUTE FUNCTION xiaoer_number_event()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER event_number_at_commit ON event")
    op.execute("DROP FUNCTION xiaoer_number_event()")
    op.execute("DROP SEQUENCE event_draft_seq")
