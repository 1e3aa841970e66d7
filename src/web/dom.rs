//! Small helpers over web-sys: finding elements, listening to events, frames, files.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Document, Element, HtmlElement, HtmlInputElement, Window};

// genlab's page code starts from `#[wasm_bindgen(start)]` in a page (never in a worker),
// where a window and its document always exist: these two cannot fail.
pub fn window() -> Window {
    web_sys::window().expect("the page has a window")
}

pub fn document() -> Document {
    window().document().expect("a page has a document")
}

pub fn by_id(id: &str) -> Result<Element, JsValue> {
    document().get_element_by_id(id).ok_or_else(|| JsValue::from_str(&format!("index.html lacks #{id}")))
}

/// The element `id` as a `T`. index.html and the Rust side are one program, so a missing
/// element is a bug the page tests catch; should one slip through, the lab says so.
pub fn get<T: JsCast>(id: &str) -> crate::error::Result<T> {
    let missing = |why: &str| crate::error::Error::Invalid(format!("the page's #{id} {why}: reload the page"));
    document()
        .get_element_by_id(id)
        .ok_or_else(|| missing("is missing"))?
        .dyn_into::<T>()
        .map_err(|_| missing("is not the kind of element genlab expects"))
}

pub fn try_get<T: JsCast>(id: &str) -> Option<T> {
    document().get_element_by_id(id).and_then(|e| e.dyn_into::<T>().ok())
}

/// Sets an element's text, unless it already reads `text`: a write, even of the same
/// words, makes the browser lay out, paint and present a new frame, and on a software GPU
/// presenting one costs tens of milliseconds that training could have had.
pub fn set_text(id: &str, text: &str) {
    if let Ok(e) = by_id(id) {
        if e.text_content().as_deref() != Some(text) {
            e.set_text_content(Some(text));
        }
    }
}

/// Shows or hides an element (the `hidden` attribute).
pub fn show(id: &str, visible: bool) {
    if let Some(e) = try_get::<HtmlElement>(id) {
        e.set_hidden(!visible);
    }
}

pub fn set_class(element: &Element, class: &str, on: bool) {
    let list = element.class_list();
    let _ = if on { list.add_1(class) } else { list.remove_1(class) };
}

pub fn set_disabled(id: &str, disabled: bool) {
    if let Ok(e) = by_id(id) {
        if e.has_attribute("disabled") != disabled {
            let _ = if disabled { e.set_attribute("disabled", "") } else { e.remove_attribute("disabled") };
        }
    }
}

/// Calls `f` on every `event` at `target`, for the life of the page.
pub fn on<E: JsCast + 'static>(target: &web_sys::EventTarget, event: &str, f: impl FnMut(E) + 'static) {
    let mut f = f;
    let closure = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| f(e.unchecked_into::<E>()));
    let _ = target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref());
    // The page's elements live as long as the page: the listener may too.
    closure.forget();
}

/// Calls `drag` on a press on `target` and on every move while one of `buttons` (the
/// `PointerEvent.buttons` bits) is held. The target keeps the pointer until it is let go, so
/// a drag that leaves it goes on.
pub fn on_drag(target: &Element, buttons: u16, drag: impl Fn(&web_sys::PointerEvent) + Clone + 'static) {
    let press = drag.clone();
    let captor = target.clone();
    on::<web_sys::PointerEvent>(target, "pointerdown", move |e| {
        e.prevent_default();
        let _ = captor.set_pointer_capture(e.pointer_id());
        press(&e);
    });
    on::<web_sys::PointerEvent>(target, "pointermove", move |e| {
        if e.buttons() & buttons != 0 {
            drag(&e);
        }
    });
}

/// [`on`] for the element `id`. A page without it (a bug the page tests catch) says so in
/// the console, and the rest of the page works on.
pub fn on_id<E: JsCast + 'static>(id: &str, event: &str, f: impl FnMut(E) + 'static) {
    match get::<web_sys::EventTarget>(id) {
        Ok(target) => on(&target, event, f),
        Err(e) => web_sys::console::error_1(&e.to_string().into()),
    }
}

pub fn now() -> f64 {
    window().performance().map_or(0.0, |p| p.now())
}

/// Resolves at the next animation frame: the browser paints and handles input in between.
pub async fn next_frame() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = window().request_animation_frame(&resolve);
    });
    let _ = JsFuture::from(promise).await;
}

/// Resolves after `ms` milliseconds (also when the tab is in the background, unlike frames).
pub async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

/// The bytes of a file the user chose or dropped.
pub async fn read_file(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("the browser could not read {}: {e:?}", file.name()))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The bytes at `url` (relative to the page), e.g. bundled weights.
pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let response = JsFuture::from(window().fetch_with_str(url))
        .await
        .map_err(|e| format!("could not fetch {url}: {e:?}"))?
        .dyn_into::<web_sys::Response>()
        .map_err(|_| format!("fetching {url} gave no response"))?;
    if !response.ok() {
        return Err(format!("{url}: the server answered {} {}", response.status(), response.status_text()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(|e| format!("{url}: {e:?}"))?)
        .await
        .map_err(|e| format!("could not read {url}: {e:?}"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Offers `bytes` as a download named `name`.
pub fn download(bytes: &[u8], name: &str) -> Result<(), JsValue> {
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/octet-stream");
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let a: web_sys::HtmlAnchorElement = document().create_element("a")?.dyn_into()?;
    a.set_href(&url);
    a.set_download(name);
    a.set_hidden(true);
    document().body().ok_or_else(|| JsValue::from_str("the page has no body"))?.append_child(&a)?;
    a.click();
    a.remove();
    // Revoked a moment later: revoking at once can cancel the download in some browsers.
    let revoke = Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    window().set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 10_000)?;
    Ok(())
}

/// The first file of a file input, and clears the input so the same file can be chosen again.
pub fn take_file(input: &HtmlInputElement) -> Option<web_sys::File> {
    let file = input.files().and_then(|f| f.get(0));
    input.set_value("");
    file
}

/// The link part of the address: the fragment, or else the query string.
pub fn location_link() -> String {
    let location = window().location();
    let hash = location.hash().unwrap_or_default();
    if hash.len() > 1 {
        hash
    } else {
        location.search().unwrap_or_default()
    }
}

/// Puts `query` in the address bar's fragment without adding a history entry.
pub fn replace_link(query: &str) {
    let location = window().location();
    let base = format!("{}{}", location.pathname().unwrap_or_default(), location.search().unwrap_or_default());
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&format!("{base}#{query}")));
    }
}

/// The full address of the page with `query` as its fragment.
pub fn full_link(query: &str) -> String {
    let location = window().location();
    format!(
        "{}{}{}#{query}",
        location.origin().unwrap_or_default(),
        location.pathname().unwrap_or_default(),
        location.search().unwrap_or_default()
    )
}
