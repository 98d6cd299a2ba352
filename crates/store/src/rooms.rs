//! Rooms: a kiosk's room, and the one phone that joins it.

use rusqlite::{params, OptionalExtension};

use crate::{Result, Store, StoreError};

/// A kiosk's room. The kiosk token is stored as a hash. The join secret is kept only
/// while the room is open (the kiosk must redraw its QR code) and erased on join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: String,
    pub kiosk_token_hash: String,
    pub join_secret: Option<String>,
    pub visit_id: Option<String>,
    pub created_at: i64,
}

impl Store {
    pub fn create_room(&self, room: &Room) -> Result<()> {
        self.conn().execute(
            "INSERT INTO rooms (id, kiosk_token_hash, join_secret, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![room.id, room.kiosk_token_hash, room.join_secret, room.created_at],
        )?;
        Ok(())
    }

    pub fn room(&self, room_id: &str) -> Result<Option<Room>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, kiosk_token_hash, join_secret, visit_id, created_at FROM rooms WHERE id = ?1",
                [room_id],
                |r| {
                    Ok(Room {
                        id: r.get(0)?,
                        kiosk_token_hash: r.get(1)?,
                        join_secret: r.get(2)?,
                        visit_id: r.get(3)?,
                        created_at: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Gives the room its one phone: creates the visit and claims the room in one
    /// transaction, so two phones racing for one QR code cannot both win.
    pub fn join_room(
        &self,
        room_id: &str,
        visit_id: &str,
        participant_token_hash: &str,
        now: i64,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let claimed = tx.execute(
            "UPDATE rooms SET visit_id = ?1, join_secret = NULL WHERE id = ?2 AND visit_id IS NULL",
            params![visit_id, room_id],
        )?;
        if claimed == 0 {
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM rooms WHERE id = ?1)",
                [room_id],
                |r| r.get(0),
            )?;
            return Err(if exists {
                StoreError::RoomTaken
            } else {
                StoreError::NoSuchRoom
            });
        }
        let number: i64 = tx.query_row(
            "UPDATE counters SET value = value + 1 WHERE name = 'visit_number' RETURNING value",
            [],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO visits (id, room_id, participant_token_hash, status, created_at, updated_at, number)
             VALUES (?1, ?2, ?3, 'waiting', ?4, ?4, ?5)",
            params![visit_id, room_id, participant_token_hash, now, number],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Rooms created since `since` that still wait for a phone.
    pub fn open_rooms(&self, since: i64) -> Result<u32> {
        Ok(self.conn().query_row(
            "SELECT COUNT(*) FROM rooms WHERE visit_id IS NULL AND created_at >= ?1",
            [since],
            |r| r.get(0),
        )?)
    }
}
