//! What the door does with a decision: pulse the relay on a pass, sound the buzzer on a fail.
//! Actions run on their own thread, so a 3-second door pulse never holds up the camera.

use std::sync::mpsc;
use std::time::Duration;

use crate::config::{ActuatorConfig, ActuatorKind};
use crate::decide::Outcome;

/// Errors of an actuator.
#[derive(Debug, thiserror::Error)]
pub enum ActuatorError {
    /// The GPIO chip or a line could not be opened or driven.
    #[error("GPIO {chip}: {reason}")]
    Gpio {
        /// The chip, such as `/dev/gpiochip0`.
        chip: String,
        /// Why.
        reason: String,
    },
}

/// Drives the door's hardware.
pub trait Actuator: Send {
    /// Acts on one decision; may block for the pulse's length.
    fn act(&mut self, outcome: Outcome) -> Result<(), ActuatorError>;
}

/// Logs what the door would do: for machines without GPIO.
#[derive(Debug, Default)]
pub struct LogActuator;

impl Actuator for LogActuator {
    fn act(&mut self, outcome: Outcome) -> Result<(), ActuatorError> {
        match outcome {
            Outcome::Pass => tracing::info!("door: relay pulse (open)"),
            Outcome::Fail => tracing::info!("door: buzzer (mask required)"),
        }
        Ok(())
    }
}

/// Relay and buzzer on two lines of a GPIO character device.
#[derive(Debug)]
pub struct GpioActuator {
    request: gpiocdev::Request,
    chip: String,
    relay_line: u32,
    buzzer_line: u32,
    relay: Duration,
    buzzer: Duration,
}

impl GpioActuator {
    /// Requests both lines as outputs, inactive.
    pub fn open(config: &ActuatorConfig) -> Result<Self, ActuatorError> {
        let chip = config.chip.display().to_string();
        let mut builder = gpiocdev::Request::builder();
        builder
            .on_chip(&config.chip)
            .with_consumer("maskgate-edge")
            .with_lines(&[config.relay_line, config.buzzer_line])
            .as_output(gpiocdev::line::Value::Inactive);
        if config.active_low {
            builder.as_active_low();
        }
        let request = builder.request().map_err(|e| ActuatorError::Gpio {
            chip: chip.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            request,
            chip,
            relay_line: config.relay_line,
            buzzer_line: config.buzzer_line,
            relay: Duration::from_millis(config.relay_ms),
            buzzer: Duration::from_millis(config.buzzer_ms),
        })
    }

    fn pulse(&self, line: u32, length: Duration) -> Result<(), ActuatorError> {
        let fail = |e: gpiocdev::Error| ActuatorError::Gpio {
            chip: self.chip.clone(),
            reason: format!("line {line}: {e}"),
        };
        self.request
            .set_value(line, gpiocdev::line::Value::Active)
            .map_err(fail)?;
        std::thread::sleep(length);
        self.request
            .set_value(line, gpiocdev::line::Value::Inactive)
            .map_err(fail)?;
        Ok(())
    }
}

impl Actuator for GpioActuator {
    fn act(&mut self, outcome: Outcome) -> Result<(), ActuatorError> {
        match outcome {
            Outcome::Pass => self.pulse(self.relay_line, self.relay),
            Outcome::Fail => self.pulse(self.buzzer_line, self.buzzer),
        }
    }
}

/// Opens the configured actuator.
pub fn open(config: &ActuatorConfig) -> Result<Box<dyn Actuator>, ActuatorError> {
    Ok(match config.kind {
        ActuatorKind::Log => Box::new(LogActuator),
        ActuatorKind::Gpio => Box::new(GpioActuator::open(config)?),
    })
}

/// Hands decisions to an actuator on its own thread.
#[derive(Debug)]
pub struct ActuatorThread {
    sender: Option<mpsc::Sender<Outcome>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ActuatorThread {
    /// Starts the thread.
    pub fn start(mut actuator: Box<dyn Actuator>) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel::<Outcome>();
        let thread = std::thread::Builder::new()
            .name("actuator".into())
            .spawn(move || {
                for outcome in receiver {
                    if let Err(e) = actuator.act(outcome) {
                        // The decision is queued already; a stuck relay must not stop the door.
                        tracing::error!(error = %e, "the door could not act");
                    }
                }
            })?;
        Ok(Self {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Queues an action; never blocks.
    pub fn act(&self, outcome: Outcome) {
        if let Some(sender) = &self.sender
            && sender.send(outcome).is_err()
        {
            tracing::error!("the actuator thread has stopped");
        }
    }
}

impl Drop for ActuatorThread {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_gpio_chip_is_a_clear_error() {
        let config = ActuatorConfig {
            kind: ActuatorKind::Gpio,
            chip: "/dev/gpiochip-does-not-exist".into(),
            ..ActuatorConfig::default()
        };
        let Err(err) = open(&config) else {
            panic!("a missing chip must fail")
        };
        let err = err.to_string();
        assert!(err.contains("/dev/gpiochip-does-not-exist"), "{err}");
    }
}
