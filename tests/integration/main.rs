//! Integration tests: the real server on 127.0.0.1, driven over HTTP and WebSocket
//! exactly as the kiosk and phone pages drive it. One binary, so it links once.

mod browser;
mod glyphs;
mod https;
mod util;

mod admin;
mod backup;
mod bench;
mod check_ai;
mod comfyui;
mod deploy;
mod e2e;
mod isolation;
mod load;
mod local_engine;
mod logs;
mod matting;
mod other_site;
mod previews;
mod print;
mod proxy;
mod quiz;
mod restart;
mod retention;
mod show;
mod stable_diffusion;
mod startup;
mod stylize;
mod uploads;
mod visit;
mod xss;
