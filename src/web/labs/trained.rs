//! The models a lab trains and the dataset they train on, kept alike by every lab: the step
//! count the page shows (an imported model's own steps included), a frame's training, the
//! figures that came back, and the model files that come and go.

use super::{download_model, Core};
use crate::data::device::DeviceDataset;
use crate::data::Dataset;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::models::model::Header;
use crate::models::{Model, Record};
use crate::web::labs::Runner;

pub struct Trained<M> {
    pub device: DeviceDataset,
    /// The held-out split on the CPU: what the lab shows and picks from.
    pub heldout: Dataset,
    /// The models, in a fixed order (the VAE lab: the VAE, then the autoencoder); all train
    /// on the same minibatches, and their snapshots are kept in this order.
    pub nets: Vec<M>,
    /// Monitor records already collected, per model.
    collected: Vec<usize>,
    /// Steps the first model had taken before it arrived here (an imported one's).
    pub offset: u32,
}

impl<M: Model> Trained<M> {
    pub fn new(device: DeviceDataset, heldout: Dataset, nets: Vec<M>) -> Trained<M> {
        let collected = vec![0; nets.len()];
        Trained { device, heldout, nets, collected, offset: 0 }
    }

    pub fn geometry(&self) -> (usize, usize, usize) {
        (self.device.height, self.device.width, self.device.channels)
    }

    /// Steps as the page shows them: the first model's, with those it came with.
    pub fn steps(&self) -> u32 {
        self.offset + self.nets[0].steps_taken()
    }

    /// The latest step whose figures have come back from the GPU.
    pub fn arrived(&self) -> u32 {
        self.offset + self.nets[0].monitor().arrived()
    }

    /// Records this frame's training steps of every model through `runner`; returns how many.
    pub fn train(&mut self, runner: &mut Runner, gpu: &Gpu) -> Result<u32> {
        let done = self.steps();
        let every = runner.monitor_every(done);
        for net in &mut self.nets {
            net.monitor_mut().set_every(every);
        }
        let arrived = self.arrived();
        let (nets, device) = (&mut self.nets, &self.device);
        runner.slice(gpu, done, arrived, || nets.iter_mut().try_for_each(|net| net.train_step(gpu, device)))
    }

    /// Hands every record that has come back since the last call to `each`: the model's
    /// index, the model, the record, and its step as the page shows it.
    pub fn collect(&mut self, mut each: impl FnMut(usize, &M, &Record, u32)) -> Result<()> {
        for (i, net) in self.nets.iter_mut().enumerate() {
            net.monitor_mut().poll()?;
            let history = &net.monitor().history;
            for record in &history[self.collected[i]..] {
                each(i, net, record, self.offset + record.step);
            }
            self.collected[i] = history.len();
        }
        Ok(())
    }

    /// The first model's latest record, with its step as the page shows it.
    pub fn latest(&self) -> Option<(&Record, u32)> {
        self.nets[0].monitor().latest().map(|r| (r, self.offset + r.step))
    }

    /// The model a file holds, if it was trained on images like this lab's; a file that
    /// does not fit changes nothing.
    pub fn load(&self, gpu: &Gpu, bytes: &[u8]) -> Result<(M, M::Header)> {
        let (net, header) = M::load(gpu, bytes)?;
        header.fits(&self.heldout)?;
        Ok((net, header))
    }

    /// Puts `net` in slot `i` (the next free one: a new slot), its figures not yet
    /// collected; in the first slot, the steps it came with count as taken here.
    pub fn adopt(&mut self, i: usize, net: M, steps: u32) {
        if i == self.nets.len() {
            self.nets.push(net);
            self.collected.push(0);
        } else {
            self.nets[i] = net;
            self.collected[i] = 0;
        }
        if i == 0 {
            self.offset = steps;
        }
    }

    /// The models were just restored from snapshots, the first one after `offset` steps it
    /// had taken elsewhere: what their monitors hold now has been seen.
    pub fn restored(&mut self, offset: u32) {
        self.offset = offset;
        for (collected, net) in self.collected.iter_mut().zip(&self.nets) {
            *collected = net.monitor().history.len();
        }
    }
}

impl<M: Model> Core<M> {
    /// Downloads model `i`'s weights file as `name` ("gan"), called `title` ("the GAN") on
    /// the status line; without a device, from the model's newest checkpoint.
    pub async fn export(&self, i: usize, name: &str, title: &str) -> Result<()> {
        let Some(models) = &self.models else { return Ok(()) };
        let Some(net) = models.nets.get(i) else { return Ok(()) };
        let (source, checkpoint) = self.checkpoints.source(&self.ctx.gpu, i)?;
        let offset = if i == 0 { models.offset } else { 0 };
        let steps = offset + checkpoint.unwrap_or(net.steps_taken());
        let header = net.header(&models.heldout, steps);
        download_model(&self.link, name, title, steps, net.save(source, &header).await?)
    }
}
