//! The QoS 2 publishes the broker has not completed yet, by packet id.
//!
//! C2 chooses packet ids itself and never reuses one before the broker's
//! PUBCOMP for it has arrived, so every PUBCOMP names exactly one outbox
//! row. (Left to itself, rumqttc hands out ids round-robin and can give a
//! new publish the id of one whose PUBREL is still unanswered; a table keyed
//! by id would then credit the wrong row.)
//!
//! The window is the most publishes C2 keeps unacknowledged. It must not
//! exceed what the broker accepts from one client: beyond it mosquitto
//! answers `PUBREC` with "quota exceeded" and drops the connection (its
//! `max_inflight_messages`, 20 by default), which is what made the
//! publisher reconnect in a loop. The window can only shrink at run time
//! ([`InFlight::shrink`]), when the broker is seen dropping a full window.

use std::collections::VecDeque;

/// Unacknowledged publishes (what the caller knows of each: for C2, the
/// outbox row and its device) and the packet ids they hold.
#[derive(Debug)]
pub struct InFlight<T> {
    /// What each packet id carries (index 0 unused: ids start at 1).
    slots: Vec<Option<T>>,
    /// Packet ids not in use, least recently freed first.
    free: VecDeque<u16>,
    window: usize,
}

impl<T: Copy> InFlight<T> {
    /// Room for `window` publishes at once, with packet ids `1..=window`.
    pub fn new(window: u16) -> InFlight<T> {
        let window = window.max(1);
        InFlight {
            slots: vec![None; window as usize + 1],
            free: (1..=window).collect(),
            window: window as usize,
        }
    }

    /// The largest packet id this table uses (the MQTT client's in-flight
    /// setting must be at least this).
    pub fn max_packet_id(&self) -> u16 {
        (self.slots.len() - 1) as u16
    }

    /// Publishes awaiting their PUBCOMP.
    pub fn len(&self) -> usize {
        self.slots.len() - 1 - self.free.len()
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current window.
    pub fn window(&self) -> usize {
        self.window
    }

    /// True when the window is full.
    pub fn is_full(&self) -> bool {
        self.len() >= self.window
    }

    /// Take a packet id for `id`; None when the window is full.
    pub fn insert(&mut self, id: T) -> Option<u16> {
        if self.is_full() {
            return None;
        }
        let pkid = self.free.pop_front()?;
        self.slots[pkid as usize] = Some(id);
        Some(pkid)
    }

    /// The broker completed `pkid`: what it carried, if anything.
    pub fn complete(&mut self, pkid: u16) -> Option<T> {
        let id = self.slots.get_mut(pkid as usize)?.take()?;
        self.free.push_back(pkid);
        Some(id)
    }

    /// What is in flight.
    pub fn ids(&self) -> impl Iterator<Item = T> + '_ {
        self.slots.iter().filter_map(|s| *s)
    }

    /// Forget everything (the broker has no session: the rows are sent
    /// again from the outbox).
    pub fn clear(&mut self) {
        for pkid in 1..self.slots.len() {
            if self.slots[pkid].take().is_some() {
                self.free.push_back(pkid as u16);
            }
        }
    }

    /// Halve the window (not below 1); returns the new window.
    pub fn shrink(&mut self) -> usize {
        self.window = (self.window / 2).max(1);
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_id_is_not_reused_before_its_pubcomp() {
        let mut f = InFlight::<i64>::new(3);
        let a = f.insert(10).unwrap();
        let b = f.insert(11).unwrap();
        let c = f.insert(12).unwrap();
        assert_eq!(f.insert(13), None, "window full");
        // Out-of-order completion: b first.
        assert_eq!(f.complete(b), Some(11));
        let d = f.insert(13).unwrap();
        assert_eq!(d, b, "only the freed id is reused");
        assert_ne!(d, a);
        assert_ne!(d, c);
        assert_eq!(f.complete(a), Some(10));
        assert_eq!(f.complete(a), None, "a PUBCOMP counts once");
        assert_eq!(f.complete(d), Some(13));
        assert_eq!(f.complete(c), Some(12));
        assert!(f.is_empty());
        assert_eq!(f.complete(0), None);
        assert_eq!(f.complete(99), None);
    }

    #[test]
    fn shrinking_keeps_what_is_in_flight() {
        let mut f = InFlight::<i64>::new(8);
        for id in 0..8 {
            f.insert(id).unwrap();
        }
        assert_eq!(f.shrink(), 4);
        assert_eq!(f.len(), 8);
        assert!(f.insert(100).is_none());
        for pkid in 1..=5 {
            f.complete(pkid);
        }
        assert_eq!(f.len(), 3);
        assert!(f.insert(100).is_some());
        assert!(f.is_full());
        let mut ids: Vec<i64> = f.ids().collect();
        ids.sort();
        assert_eq!(ids, [5, 6, 7, 100]);
        f.clear();
        assert!(f.is_empty());
        assert_eq!(f.max_packet_id(), 8);
        assert_eq!(InFlight::<i64>::new(1).shrink(), 1);
    }
}
