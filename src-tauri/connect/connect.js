// The connect page: asks the Rust side (commands `remembered_server` and `connect` in
// src-tauri/src/lib.rs) to check the server and open it.
"use strict";

const invoke = window.__TAURI__.core.invoke;
const form = document.getElementById("connect");
const input = document.getElementById("url");
const button = document.getElementById("go");
const status = document.getElementById("status");

invoke("remembered_server").then((url) => {
  if (url && !input.value) input.value = url;
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  button.disabled = true;
  status.className = "";
  status.textContent = `Checking ${input.value.trim()}…`;
  try {
    const server = await invoke("connect", { url: input.value });
    status.textContent = `Opening ${server}…`;
  } catch (error) {
    status.className = "error";
    status.textContent = String(error);
    button.disabled = false;
  }
});
