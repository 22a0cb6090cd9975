// The chat page: thread list, conversation view and composer, speaking the
// ChatKit protocol (PROTOCOL.md) to this server's endpoint.

import { ApiError, ChatKitClient } from './api.js';
import { formatTime, h, icon } from './dom.js';
import { renderMarkdown } from './markdown.js';
import { applyItemUpdate, renderItem, setItemHandlers } from './items.js';
import { actionPayload } from './widgets.js';

const config = JSON.parse(document.querySelector('meta[name="chatkit-config"]').content);
const $ = (id) => document.getElementById(id);
const STORAGE_KEY = 'chatkit.settings';
const THREAD_PAGE = 20;
const ITEM_PAGE = 30;

// ---- Settings --------------------------------------------------------------

function loadSettings() {
  try {
    return { userId: '', token: '', ...JSON.parse(localStorage.getItem(STORAGE_KEY) || '{}') };
  } catch {
    return { userId: '', token: '' };
  }
}
let settings = loadSettings();
const client = new ChatKitClient(config, () => settings);

// ---- Client tools: window.chatkitTools.register(name, fn) ------------------

const toolHandlers = new Map();
window.chatkitTools = Object.freeze({
  /** Registers `fn(args, call)`, whose (awaited) result answers the call. */
  register(name, fn) {
    if (typeof fn !== 'function') throw new TypeError('chatkitTools.register needs a function');
    toolHandlers.set(String(name), fn);
  },
  unregister(name) {
    toolHandlers.delete(String(name));
  },
  names: () => [...toolHandlers.keys()],
});

// ---- State -----------------------------------------------------------------

const state = {
  threads: [], // sidebar, newest first
  threadsAfter: null,
  threadsHasMore: true,
  threadsLoading: false,
  thread: null, // the open thread (without items)
  items: new Map(), // id -> item
  order: [], // item ids, oldest first
  olderAfter: null, // items.list cursor for older items
  controller: null, // AbortController of the running stream
  streaming: false,
  attachments: [], // {id?, file, status, attachment}
  openSeq: 0,
};

// ---- Rendering: thread list ------------------------------------------------

function threadTitle(thread) {
  return thread?.title?.trim() || 'New conversation';
}

function renderThreadList() {
  const list = $('thread-list');
  list.replaceChildren(
    ...state.threads.map((thread) =>
      h('li', { dataset: { threadId: thread.id } },
        h('a', {
          class: `thread-link ${state.thread?.id === thread.id ? 'active' : ''}`,
          href: `#${encodeURIComponent(thread.id)}`,
          'aria-current': state.thread?.id === thread.id ? 'page' : false,
          onclick: (event) => {
            event.preventDefault();
            openThread(thread.id);
          },
        },
        h('span', { class: 'thread-link-title', text: threadTitle(thread) }),
        h('span', { class: 'thread-link-time', text: formatTime(thread.created_at) })))),
  );
  $('thread-list-status').textContent = state.threadsLoading
    ? 'Loading…'
    : state.threads.length === 0
      ? 'No conversations yet.'
      : '';
}

async function loadThreads({ reset = false } = {}) {
  if (reset) {
    state.threads = [];
    state.threadsAfter = null;
    state.threadsHasMore = true;
  }
  if (state.threadsLoading || !state.threadsHasMore) return;
  state.threadsLoading = true;
  renderThreadList();
  try {
    const page = await client.request('threads.list', { limit: THREAD_PAGE, order: 'desc', after: state.threadsAfter });
    const known = new Set(state.threads.map((t) => t.id));
    state.threads.push(...page.data.filter((t) => !known.has(t.id)));
    state.threadsHasMore = page.has_more;
    state.threadsAfter = page.after ?? null;
  } catch (error) {
    state.threadsHasMore = false;
    showError(error, 'Could not load the conversations');
  } finally {
    state.threadsLoading = false;
    renderThreadList();
  }
  // Keep loading while the list does not fill its pane.
  const wrap = $('thread-list-wrap');
  if (state.threadsHasMore && wrap.scrollHeight <= wrap.clientHeight) loadThreads();
}

function upsertThread(thread, { toTop = false } = {}) {
  const index = state.threads.findIndex((t) => t.id === thread.id);
  if (index >= 0) {
    state.threads[index] = { ...state.threads[index], ...thread };
    if (toTop) state.threads.unshift(...state.threads.splice(index, 1));
  } else {
    state.threads.unshift(thread);
  }
  if (state.thread?.id === thread.id) {
    state.thread = { ...state.thread, ...thread };
    renderHeader();
  }
  renderThreadList();
}

// ---- Rendering: the conversation -------------------------------------------

function renderHeader() {
  const title = state.thread ? threadTitle(state.thread) : 'New chat';
  $('thread-title').textContent = title;
  document.title = state.thread ? `${title} · ChatKit` : 'ChatKit';
  $('thread-actions').hidden = !state.thread;
  const status = state.thread?.status;
  const input = $('input');
  const closed = status?.type === 'closed';
  const locked = status?.type === 'locked';
  input.disabled = closed || locked;
  input.placeholder = closed || locked ? status.reason || (closed ? 'This conversation is closed.' : 'This conversation is locked.') : 'Message…  (Enter to send, Shift+Enter for a new line)';
}

function clearConversation() {
  state.items.clear();
  state.order = [];
  state.olderAfter = null;
  $('items').replaceChildren();
  $('load-older').hidden = true;
  hideNotices();
  renderEmpty();
}

function renderEmpty() {
  $('empty').hidden = state.order.length > 0 || state.streaming;
}

function setItem(item, { prepend = false } = {}) {
  if (item.type === 'hidden_context_item' || item.type === 'sdk_hidden_context') return;
  const known = state.order.includes(item.id);
  state.items.set(item.id, item);
  if (!known) {
    if (prepend) state.order.unshift(item.id);
    else state.order.push(item.id);
  }
  const node = renderItem(item);
  const old = document.querySelector(`[data-item-id="${CSS.escape(item.id)}"]`);
  if (old) old.replaceWith(node);
  else if (prepend) $('items').prepend(node);
  else $('items').append(node);
  renderEmpty();
}

function removeItem(id) {
  state.items.delete(id);
  state.order = state.order.filter((x) => x !== id);
  document.querySelector(`[data-item-id="${CSS.escape(id)}"]`)?.remove();
  renderEmpty();
}

// ---- Item updates (PROTOCOL.md §7, applied in items.js) -----------------------

function applyUpdate(itemId, update) {
  const item = state.items.get(itemId);
  const next = item && applyItemUpdate(item, update);
  if (!next) return;
  if (update.type === 'assistant_message.content_part.text_delta' && update.delta) firstToken();
  scheduleRender(next);
}

// Deltas arrive faster than frames: store at once, paint once per frame.
const dirty = new Map();
function scheduleRender(item) {
  state.items.set(item.id, item);
  if (!dirty.size) requestAnimationFrame(flushRender);
  dirty.set(item.id, item);
}
function flushRender() {
  const atBottom = isNearBottom();
  for (const item of dirty.values()) if (state.items.get(item.id) === item) setItem(item);
  dirty.clear();
  if (atBottom) scrollToBottom();
}

// ---- Streaming ---------------------------------------------------------------

let thinkingShown = false;
function showThinking(on) {
  thinkingShown = on;
  $('thinking').hidden = !on;
  if (on) scrollToBottom();
}
function firstToken() {
  if (thinkingShown) showThinking(false);
}

function setStreaming(on) {
  state.streaming = on;
  if (on) $('stop').disabled = false; // until stream_options says otherwise
  $('send').hidden = on;
  $('stop').hidden = !on;
  $('app').classList.toggle('is-streaming', on);
  for (const b of document.querySelectorAll('[data-action="retry"]')) b.disabled = on;
  if (!on) {
    showThinking(false);
    $('progress').hidden = true;
  }
}

/**
 * Runs one streaming request and applies its events. Resolves to
 * `{aborted, error}`; errors before the stream are shown as a toast.
 */
async function runStream(type, params) {
  if (state.streaming) return { aborted: false };
  hideNotices();
  const controller = new AbortController();
  state.controller = controller;
  setStreaming(true);
  showThinking(true);
  renderEmpty();
  const seq = state.openSeq;
  const streamed = new Set();
  let result = { aborted: false };
  try {
    await client.stream(type, params, {
      signal: controller.signal,
      onEvent: (event) => {
        if (seq !== state.openSeq) return; // the user moved to another thread
        handleEvent(event, streamed);
      },
    });
  } catch (error) {
    if (error.name === 'AbortError') {
      result = { aborted: true };
      for (const id of streamed) {
        const item = state.items.get(id);
        if (item?.type === 'assistant_message') {
          if ((item.content || []).some((p) => p.text)) scheduleRender({ ...item, _streaming: false, _stopped: true });
          else removeItem(id);
        }
      }
    } else if (error instanceof ApiError) {
      showError(error);
      result = { error };
    } else {
      showError(error, 'The connection was lost');
      result = { error };
    }
  } finally {
    for (const id of streamed) {
      const item = state.items.get(id);
      if (item?._streaming) scheduleRender({ ...item, _streaming: false });
    }
    state.controller = null;
    setStreaming(false);
    renderEmpty();
  }
  if (!result.aborted && !result.error && seq === state.openSeq) await answerClientTools();
  return result;
}

function handleEvent(event, streamed) {
  switch (event.type) {
    case 'thread.created':
      state.thread = event.thread;
      upsertThread(event.thread, { toTop: true });
      setHash(event.thread.id);
      renderHeader();
      break;
    case 'thread.updated':
      upsertThread(event.thread);
      break;
    case 'thread.item.added':
      streamed.add(event.item.id);
      if (event.item.type !== 'assistant_message') firstToken();
      scheduleRender({ ...event.item, _streaming: event.item.type === 'assistant_message' });
      break;
    case 'thread.item.done':
    case 'thread.item.replaced':
      if (event.item.type !== 'user_message') firstToken();
      else streamed.delete(event.item.id);
      scheduleRender({ ...event.item, _streaming: false });
      break;
    case 'thread.item.updated':
      applyUpdate(event.item_id, event.update);
      break;
    case 'thread.item.removed':
      dirty.delete(event.item_id);
      removeItem(event.item_id);
      break;
    case 'stream_options':
      $('stop').disabled = event.stream_options?.allow_cancel === false;
      break;
    case 'progress_update':
      $('progress').hidden = false;
      $('progress').textContent = event.text || '';
      break;
    case 'client_effect':
      window.dispatchEvent(new CustomEvent('chatkit:effect', { detail: { name: event.name, data: event.data } }));
      break;
    case 'notice':
      firstToken();
      showNotice(event.level || 'info', event.title, event.message);
      break;
    case 'error':
      firstToken();
      showStreamError(event);
      break;
    default:
      break;
  }
}

async function answerClientTools() {
  flushRender(); // items still waiting for a frame
  const last = state.items.get(state.order[state.order.length - 1]);
  if (!last || last.type !== 'client_tool_call' || last.status !== 'pending' || !state.thread) return;
  const handler = toolHandlers.get(last.name);
  let result;
  if (!handler) {
    showNotice('warning', 'Client tool missing', `This page has no tool named \`${last.name}\`; the assistant was told so.`);
    result = { error: `the client has no tool named ${last.name}` };
  } else {
    try {
      result = await handler(last.arguments ?? {}, last);
    } catch (error) {
      result = { error: String(error?.message || error) };
    }
  }
  scheduleRender({ ...last, status: 'completed', output: result ?? null });
  await runStream('threads.add_client_tool_output', { thread_id: state.thread.id, result: result ?? null });
}

// ---- Notices and errors ------------------------------------------------------

function hideNotices() {
  for (const n of document.querySelectorAll('.items > .notice-item')) n.remove();
}

function showNotice(level, title, message) {
  const li = h('li', { class: `notice-item notice notice-${level}`, role: level === 'danger' ? 'alert' : 'status' },
    title ? h('strong', { text: title }) : null,
    h('div', { class: 'markdown' }, renderMarkdown(message || '')));
  $('items').append(li);
  renderEmpty();
  scrollToBottom();
  return li;
}

function showStreamError(event) {
  const li = showNotice('danger', 'Something went wrong', event.message || 'The answer could not be completed.');
  li.classList.add('stream-error');
  if (event.allow_retry) {
    li.append(h('button', { type: 'button', class: 'button primary', 'data-action': 'retry-error', onclick: () => {
      const lastUser = [...state.order].reverse().map((id) => state.items.get(id)).find((i) => i?.type === 'user_message');
      if (lastUser) retryFrom(lastUser.id);
    } }, 'Retry'));
  }
}

function toast(message, level = 'danger') {
  const node = h('div', { class: `toast toast-${level}`, text: message });
  $('toasts').append(node);
  setTimeout(() => node.remove(), 6000);
}

function showError(error, prefix) {
  const message = error instanceof ApiError
    ? `${error.message}${error.code ? ` (${error.code})` : ''}`
    : String(error?.message || error);
  console.error('chatkit:', prefix || 'request failed', error);
  toast(prefix ? `${prefix}: ${message}` : message);
}

// ---- Actions -----------------------------------------------------------------

async function openThread(threadId, { push = true } = {}) {
  if (state.controller) state.controller.abort();
  const seq = ++state.openSeq;
  closeSidebar();
  try {
    const thread = await client.request('threads.get_by_id', { thread_id: threadId });
    if (seq !== state.openSeq) return;
    state.thread = { ...thread, items: undefined };
    clearConversation();
    renderHeader();
    if (push) setHash(thread.id);
    if (thread.items.has_more) {
      // The thread's first page is its oldest; show the newest instead.
      const page = await client.request('items.list', { thread_id: threadId, order: 'desc', limit: ITEM_PAGE });
      if (seq !== state.openSeq) return;
      page.data.reverse().forEach((item) => setItem(item));
      state.olderAfter = page.has_more ? page.after : null;
    } else {
      thread.items.data.forEach((item) => setItem(item));
    }
    $('load-older').hidden = !state.olderAfter;
    renderThreadList();
    scrollToBottom();
    await answerClientTools();
  } catch (error) {
    if (seq !== state.openSeq) return;
    if (error instanceof ApiError && error.status === 404) {
      toast('That conversation does not exist (or is not yours).');
      newThread();
    } else {
      showError(error, 'Could not open the conversation');
    }
  }
}

async function loadOlder() {
  if (!state.thread || !state.olderAfter) return;
  const seq = state.openSeq;
  const pane = $('messages');
  const fromBottom = pane.scrollHeight - pane.scrollTop;
  try {
    const page = await client.request('items.list', { thread_id: state.thread.id, order: 'desc', limit: ITEM_PAGE, after: state.olderAfter });
    if (seq !== state.openSeq) return;
    page.data.forEach((item) => setItem(item, { prepend: true }));
    state.olderAfter = page.has_more ? page.after : null;
    $('load-older').hidden = !state.olderAfter;
    pane.scrollTop = pane.scrollHeight - fromBottom;
  } catch (error) {
    showError(error, 'Could not load earlier messages');
  }
}

function newThread() {
  if (state.controller) state.controller.abort();
  state.openSeq += 1;
  state.thread = null;
  clearConversation();
  renderHeader();
  renderThreadList();
  setHash(null);
  closeSidebar();
  $('input').focus();
}

async function send() {
  const input = $('input');
  const text = input.value;
  if (state.streaming) return;
  if (state.attachments.some((a) => a.status === 'uploading')) {
    toast('Wait for the uploads to finish.', 'warning');
    return;
  }
  const ready = state.attachments.filter((a) => a.status === 'ready');
  if (!text.trim() && !ready.length) return;
  const message = {
    content: text.trim() ? [{ type: 'input_text', text }] : [],
    attachments: ready.map((a) => a.attachment.id),
    inference_options: {},
  };
  input.value = '';
  autosize();
  state.attachments = [];
  renderChips();
  const result = state.thread
    ? await runStream('threads.add_user_message', { thread_id: state.thread.id, input: message })
    : await runStream('threads.create', { input: message });
  if (result.error && !input.value) input.value = text; // nothing was sent: give the text back
}

function stop() {
  state.controller?.abort();
}

async function retryFrom(itemId) {
  if (!state.thread || state.streaming) return;
  const index = state.order.indexOf(itemId);
  if (index >= 0) state.order.slice(index + 1).forEach(removeItem);
  await runStream('threads.retry_after_item', { thread_id: state.thread.id, item_id: itemId });
}

async function sendFeedback(item, kind) {
  if (!state.thread) return;
  try {
    await client.request('items.feedback', { thread_id: state.thread.id, item_ids: [item.id], kind });
    scheduleRender({ ...state.items.get(item.id), _feedback: kind });
    toast('Thanks for the feedback.', 'info');
  } catch (error) {
    showError(error, 'Feedback was not sent');
  }
}

async function copyText(item) {
  const text = (item.content || []).map((p) => p.text).join('\n\n');
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied.', 'info');
  } catch {
    toast('Copying is not allowed here.', 'warning');
  }
}

async function runAction(item, action, formEl, el) {
  const payload = actionPayload(action, formEl);
  const sent = { type: action.type, ...(payload !== null && payload !== undefined ? { payload } : {}) };
  if (action.handler === 'client') {
    window.dispatchEvent(new CustomEvent('chatkit:widget-action', { detail: { action: sent, item } }));
    return;
  }
  if (!state.thread) return;
  if (el) el.setAttribute('aria-busy', 'true');
  try {
    if (action.streaming === false) {
      const answer = await client.request('threads.sync_custom_action', { thread_id: state.thread.id, item_id: item.id, action: sent });
      if (answer.updated_item) setItem(answer.updated_item);
    } else {
      await runStream('threads.custom_action', { thread_id: state.thread.id, item_id: item.id, action: sent });
    }
  } catch (error) {
    showError(error, 'The action failed');
  } finally {
    if (el) el.removeAttribute('aria-busy');
  }
}

async function submitStructured(item, form, status) {
  const answers = {};
  for (const q of item.inputs || []) {
    const values = [...form.querySelectorAll(`[name="${CSS.escape(q.id)}"]`)]
      .filter((f) => (f.type === 'radio' || f.type === 'checkbox' ? f.checked : f.value.trim()))
      .map((f) => f.value);
    answers[q.id] = { values, skipped: values.length === 0 };
  }
  await runStream('threads.add_structured_input', { thread_id: state.thread.id, item_id: item.id, input: { status, answers } });
}

async function renameThread(title) {
  if (!state.thread) return;
  try {
    const thread = await client.request('threads.update', { thread_id: state.thread.id, title });
    upsertThread(thread.id ? thread : { ...state.thread, title });
  } catch (error) {
    showError(error, 'Could not rename');
  }
}

async function deleteThread() {
  if (!state.thread) return;
  const id = state.thread.id;
  try {
    await client.request('threads.delete', { thread_id: id });
    state.threads = state.threads.filter((t) => t.id !== id);
    newThread();
    toast('Conversation deleted.', 'info');
  } catch (error) {
    showError(error, 'Could not delete');
  }
}

// ---- Attachments -------------------------------------------------------------

function renderChips() {
  $('attachment-chips').replaceChildren(
    ...state.attachments.map((a) =>
      h('li', { class: `chip chip-${a.status}` },
        h('span', { class: 'chip-name', text: a.file.name }),
        h('span', { class: 'chip-status', text: a.status === 'uploading' ? ' uploading…' : a.status === 'failed' ? ' failed' : '' }),
        h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove ${a.file.name}`, onclick: () => removeAttachment(a) }, icon('x')))),
  );
}

function accepted(file) {
  const type = (file.type || '').toLowerCase();
  return config.attachments.types.some((t) => {
    const allowed = t.toLowerCase();
    return allowed === '*' || allowed === '*/*' || allowed === type || (allowed.endsWith('/*') && type.startsWith(allowed.slice(0, -1)));
  });
}

async function addFiles(files) {
  for (const file of files) {
    if (!accepted(file)) {
      toast(`${file.name}: this file type is not accepted (${config.attachments.types.join(', ')}).`, 'warning');
      continue;
    }
    if (file.size > config.attachments.maxBytes) {
      toast(`${file.name} is larger than ${Math.round(config.attachments.maxBytes / 1048576)} MiB.`, 'warning');
      continue;
    }
    const entry = { file, status: 'uploading', attachment: null };
    state.attachments.push(entry);
    renderChips();
    try {
      entry.attachment = await client.request('attachments.create', { name: file.name, size: file.size, mime_type: file.type || 'application/octet-stream' });
      await client.upload(entry.attachment.upload_descriptor, file);
      entry.status = 'ready';
    } catch (error) {
      entry.status = 'failed';
      showError(error, `${file.name} was not uploaded`);
    }
    renderChips();
  }
}

async function removeAttachment(entry) {
  state.attachments = state.attachments.filter((a) => a !== entry);
  renderChips();
  if (entry.attachment) {
    try {
      await client.request('attachments.delete', { attachment_id: entry.attachment.id });
    } catch (error) {
      console.warn('chatkit: attachment not deleted', error);
    }
  }
}

// ---- Layout helpers ----------------------------------------------------------

function isNearBottom() {
  const pane = $('messages');
  return pane.scrollHeight - pane.scrollTop - pane.clientHeight < 80;
}
function scrollToBottom() {
  const pane = $('messages');
  pane.scrollTop = pane.scrollHeight;
}
function autosize() {
  const input = $('input');
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
}
function setHash(id) {
  const url = new URL(window.location.href);
  url.hash = id ? encodeURIComponent(id) : '';
  window.history.replaceState(null, '', url);
}
function openSidebar() {
  $('app').classList.add('sidebar-open');
  $('scrim').hidden = false;
  $('toggle-sidebar').setAttribute('aria-expanded', 'true');
}
function closeSidebar() {
  $('app').classList.remove('sidebar-open');
  $('scrim').hidden = true;
  $('toggle-sidebar').setAttribute('aria-expanded', 'false');
}
function renderWhoami() {
  $('whoami').textContent = settings.userId || config.defaultUser ? `as ${settings.userId || `${config.defaultUser} (default)`}` : '';
}

// ---- Wiring ------------------------------------------------------------------

function wire() {
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    send();
  });
  $('input').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  $('input').addEventListener('input', autosize);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && state.streaming && !document.querySelector('dialog[open]')) {
      event.preventDefault();
      stop();
    }
  });
  $('stop').addEventListener('click', stop);
  $('new-thread').addEventListener('click', newThread);
  $('toggle-sidebar').addEventListener('click', () => ($('app').classList.contains('sidebar-open') ? closeSidebar() : openSidebar()));
  $('close-sidebar').addEventListener('click', closeSidebar);
  $('scrim').addEventListener('click', closeSidebar);
  $('thread-list-wrap').addEventListener('scroll', () => {
    const wrap = $('thread-list-wrap');
    if (wrap.scrollHeight - wrap.scrollTop - wrap.clientHeight < 120) loadThreads();
  });
  $('messages').addEventListener('scroll', () => {
    if ($('messages').scrollTop < 40 && state.olderAfter) loadOlder();
  });
  $('load-older-button').addEventListener('click', loadOlder);
  $('attach').addEventListener('click', () => $('file-input').click());
  $('file-input').accept = config.attachments.types.join(',');
  $('file-input').addEventListener('change', () => {
    addFiles([...$('file-input').files]);
    $('file-input').value = '';
  });
  $('composer').addEventListener('dragover', (event) => event.preventDefault());
  $('composer').addEventListener('drop', (event) => {
    event.preventDefault();
    addFiles([...event.dataTransfer.files]);
  });
  $('input').addEventListener('paste', (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (files.length) addFiles(files);
  });

  // Settings
  $('user-header-name').textContent = `(sent as ${config.userHeader})`;
  $('settings-user').placeholder = config.defaultUser;
  $('open-settings').addEventListener('click', () => {
    $('settings-user').value = settings.userId;
    $('settings-token').value = settings.token;
    $('settings-dialog').showModal();
  });
  $('settings-cancel').addEventListener('click', () => $('settings-dialog').close());
  $('settings-form').addEventListener('submit', () => {
    settings = { userId: $('settings-user').value.trim(), token: $('settings-token').value.trim() };
    localStorage.setItem(STORAGE_KEY, JSON.stringify(settings));
    renderWhoami();
    newThread();
    loadThreads({ reset: true });
  });

  // Rename and delete
  $('rename-thread').addEventListener('click', () => {
    $('rename-input').value = state.thread?.title || '';
    $('rename-dialog').showModal();
    $('rename-input').select();
  });
  $('rename-cancel').addEventListener('click', () => $('rename-dialog').close());
  $('rename-form').addEventListener('submit', () => {
    const title = $('rename-input').value.trim();
    if (title) renameThread(title);
  });
  $('delete-thread').addEventListener('click', () => $('delete-dialog').showModal());
  $('delete-cancel').addEventListener('click', () => $('delete-dialog').close());
  $('delete-form').addEventListener('submit', deleteThread);

  window.addEventListener('hashchange', () => {
    const id = decodeURIComponent(window.location.hash.slice(1));
    if (id && id !== state.thread?.id) openThread(id, { push: false });
  });
}

setItemHandlers({
  isStreaming: () => state.streaming,
  retryFrom,
  copyText,
  sendFeedback,
  runAction,
  submitStructured,
});
wire();
renderWhoami();
renderHeader();
renderEmpty();
loadThreads();
const initial = decodeURIComponent(window.location.hash.slice(1));
if (initial) openThread(initial, { push: false });
document.documentElement.dataset.ready = 'true';
