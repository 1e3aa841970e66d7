//! What the page asks of a lab: user actions, queued by event handlers and applied by the
//! lab's loop between frames (see [`run`](super::run)), so that no handler touches a model.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// User actions, queued by event handlers, applied by the lab's loop between frames.
#[derive(Debug)]
pub enum Cmd {
    Train,
    Pause,
    Step,
    Reset,
    /// A setting in the form changed: key and text.
    Edit(String, String),
    /// A sprite sheet was chosen or dropped: file name and bytes.
    Sheet(String, Vec<u8>),
    /// Reading a chosen file failed.
    FileError(String),
    CopyLink,
    /// Export model `0` (or `1`: the lab's second model).
    Export(usize),
    Import(String, Vec<u8>),
    /// A click on a picker canvas at CSS pixel (x, y) (VAE: a held-out image to interpolate).
    Pick(f64, f64),
    /// A point dragged on latent map `0` or `1`.
    Point(usize, f32, f32),
    NewNoise,
    /// Load the bundled trained models.
    Pretrained,
    /// Complete the picked sprite under its cover (PixelRNN).
    Complete,
    /// Paint new sprites from nothing (PixelRNN).
    Sample,
}

#[derive(Clone, Default)]
pub struct Queue(Rc<RefCell<VecDeque<Cmd>>>);

impl Queue {
    pub fn push(&self, cmd: Cmd) {
        let mut q = self.0.borrow_mut();
        // Drags arrive far faster than frames: keep only the latest point per map.
        if let Cmd::Point(map, ..) = cmd {
            q.retain(|c| !matches!(c, Cmd::Point(m, ..) if *m == map));
        }
        q.push_back(cmd);
    }

    pub fn take(&self) -> Vec<Cmd> {
        self.0.borrow_mut().drain(..).collect()
    }
}
