// Thread items: how each one looks (PROTOCOL.md §5) and how item updates
// change them (§7). Rendering builds DOM nodes only; the page's actions
// come in through `setItemHandlers`.

import { h, icon, isSafeUrl } from './dom.js';
import { renderMarkdown } from './markdown.js';
import { renderWidget } from './widgets.js';

let handlers = {
  isStreaming: () => false,
  retryFrom() {},
  copyText() {},
  sendFeedback() {},
  runAction() {},
  submitStructured() {},
};

/** Sets what the buttons inside items do. */
export function setItemHandlers(next) {
  handlers = { ...handlers, ...next };
}

export function renderItem(item) {
  const li = h('li', { class: `item item-${item.type}`, dataset: { itemId: item.id } });
  switch (item.type) {
    case 'user_message':
      li.append(renderUserMessage(item));
      break;
    case 'assistant_message':
      li.append(renderAssistantMessage(item));
      break;
    case 'widget':
      li.append(h('div', { class: 'widget' }, renderWidget(item.widget, (action, form, el) => handlers.runAction(item, action, form, el))));
      break;
    case 'workflow':
      li.append(renderWorkflow(item.workflow));
      break;
    case 'task':
      li.append(h('div', { class: 'workflow' }, renderTask(item.task)));
      break;
    case 'client_tool_call':
      li.append(h('div', { class: 'tool-call', role: 'note' },
        h('span', { class: 'badge', text: item.status === 'completed' ? 'tool done' : 'tool' }),
        h('code', { text: item.name }),
        h('span', { class: 'muted', text: item.status === 'completed' ? '' : ' running in this page…' })));
      break;
    case 'generated_image':
      li.append(item.image && isSafeUrl(item.image.url, { allowDataImage: true })
        ? h('img', { class: 'generated-image', src: item.image.url, alt: 'Generated image' })
        : h('div', { class: 'muted', text: 'Generating an image…' }));
      break;
    case 'structured_input':
      li.append(renderStructuredInput(item));
      break;
    case 'end_of_turn':
      li.hidden = true;
      break;
    default:
      li.hidden = true;
  }
  return li;
}

function renderUserMessage(item) {
  const text = (item.content || []).map((part) => part.text ?? '').join('');
  const bubble = h('div', { class: 'bubble user' });
  if (item.quoted_text) bubble.append(h('blockquote', { class: 'quote', text: item.quoted_text }));
  bubble.append(h('div', { class: 'user-text', text }));
  const attachments = item.attachments || [];
  if (attachments.length) {
    bubble.append(h('ul', { class: 'message-attachments', role: 'list' },
      attachments.map((a) => h('li', {},
        a.type === 'image' && isSafeUrl(a.preview_url)
          ? h('img', { src: a.preview_url, alt: a.name, class: 'attachment-preview' })
          : h('span', { class: 'file-chip', text: a.name })))));
  }
  const actions = h('div', { class: 'message-actions' },
    h('button', { type: 'button', class: 'link-button', 'data-action': 'retry', 'aria-label': 'Retry from this message', disabled: handlers.isStreaming(), onclick: () => handlers.retryFrom(item.id) }, 'Retry'));
  return h('div', { class: 'user-row' }, bubble, actions);
}

function renderAssistantMessage(item) {
  const body = h('div', { class: 'markdown assistant-text' });
  const sources = [];
  for (const part of item.content || []) {
    body.append(renderMarkdown(part.text));
    for (const a of part.annotations || []) {
      if (a.source?.type === 'url' && isSafeUrl(a.source.url) && !sources.some((s) => s.url === a.source.url)) sources.push(a.source);
    }
  }
  const wrap = h('div', { class: 'assistant' }, body);
  if (item._streaming) wrap.classList.add('streaming');
  if (item._stopped) wrap.append(h('p', { class: 'muted stopped', text: 'Stopped.' }));
  if (sources.length) {
    wrap.append(h('ol', { class: 'sources', 'aria-label': 'Sources' },
      sources.map((s) => h('li', {}, h('a', { href: s.url, target: '_blank', rel: 'noopener noreferrer nofollow', text: s.title || s.url })))));
  }
  if (!item._streaming) {
    const feedback = item._feedback;
    wrap.append(h('div', { class: 'message-actions' },
      h('button', { type: 'button', class: 'link-button', 'aria-label': 'Copy', onclick: () => handlers.copyText(item) }, icon('copy')),
      h('button', { type: 'button', class: `link-button ${feedback === 'positive' ? 'chosen' : ''}`, 'data-action': 'feedback-positive', 'aria-label': 'Good answer', 'aria-pressed': String(feedback === 'positive'), onclick: () => handlers.sendFeedback(item, 'positive') }, icon('thumbs-up')),
      h('button', { type: 'button', class: `link-button ${feedback === 'negative' ? 'chosen' : ''}`, 'data-action': 'feedback-negative', 'aria-label': 'Bad answer', 'aria-pressed': String(feedback === 'negative'), onclick: () => handlers.sendFeedback(item, 'negative') }, icon('thumbs-down'))));
  }
  return wrap;
}

function renderWorkflow(workflow) {
  const summary = workflow.summary;
  const title = summary?.title
    ?? (summary?.duration !== undefined ? `Thought for ${summary.duration}s` : workflow.type === 'reasoning' ? 'Thinking' : 'Steps');
  const details = h('details', { class: 'workflow', open: workflow.expanded === true || !summary },
    h('summary', { text: title }),
    h('ol', { class: 'tasks' }, (workflow.tasks || []).map((task) => h('li', {}, renderTask(task)))));
  return details;
}

function renderTask(task) {
  const mark = { loading: '◌', complete: '✓' }[task.status_indicator] || '•';
  const el = h('div', { class: `task task-${task.status_indicator}` },
    h('span', { class: 'task-mark', 'aria-hidden': 'true', text: mark }),
    h('div', { class: 'task-body' },
      task.title ? h('strong', { text: task.title }) : null,
      task.content ? h('div', { class: 'markdown' }, renderMarkdown(task.content)) : null,
      task.queries?.length ? h('div', { class: 'muted', text: task.queries.join(' · ') }) : null,
      (task.sources || []).filter((s) => s.url && isSafeUrl(s.url)).map((s) =>
        h('a', { href: s.url, target: '_blank', rel: 'noopener noreferrer nofollow', class: 'source-link', text: s.title || s.url }))));
  return el;
}

function renderStructuredInput(item) {
  const form = h('form', { class: 'structured-input' });
  const pending = item.status === 'pending';
  for (const q of item.inputs || []) {
    const fieldset = h('fieldset', { disabled: !pending }, h('legend', { text: q.question }));
    const answered = q.answer?.values || [];
    if (q.type === 'multiple_choice') {
      for (const o of q.options || []) {
        fieldset.append(h('label', { class: 'choice' },
          h('input', { type: q.multiple ? 'checkbox' : 'radio', name: q.id, value: o.value, checked: answered.includes(o.value) }), o.value));
      }
    } else {
      fieldset.append(h('input', { type: 'text', name: q.id, value: answered[0] ?? false, 'aria-label': q.question, placeholder: q.description || '' }));
    }
    form.append(fieldset);
  }
  if (pending) {
    form.append(h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', class: 'button ghost', onclick: () => handlers.submitStructured(item, form, 'skipped') }, 'Skip'),
      h('button', { type: 'submit', class: 'button primary' }, 'Submit')));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      handlers.submitStructured(item, form, 'answered');
    });
  } else {
    form.append(h('p', { class: 'muted', text: item.status === 'skipped' ? 'Skipped.' : 'Answered.' }));
  }
  return form;
}

function emptyPart() {
  return { annotations: [], text: '', type: 'output_text' };
}

/**
 * The item after `update`: a new object (the old one is untouched), or
 * null for an update this page does not know.
 */
export function applyItemUpdate(item, update) {
  const next = structuredClone(item);
  // Assistant content: pad with empty parts up to `index`, as the protocol says.
  const part = (index) => {
    next.content ||= [];
    while (next.content.length <= index) next.content.push(emptyPart());
    return next.content[index];
  };
  switch (update.type) {
    case 'assistant_message.content_part.added':
    case 'assistant_message.content_part.done':
      part(update.content_index);
      next.content[update.content_index] = update.content;
      break;
    case 'assistant_message.content_part.text_delta':
      part(update.content_index).text += update.delta;
      break;
    case 'assistant_message.content_part.annotation_added': {
      const list = (part(update.content_index).annotations ||= []);
      list.splice(Math.min(update.annotation_index, list.length), 0, update.annotation);
      break;
    }
    case 'widget.root.updated':
      next.widget = update.widget;
      break;
    case 'widget.component.updated':
      next.widget = replaceComponent(next.widget, update.component_id, () => update.component);
      break;
    case 'widget.streaming_text.value_delta':
      next.widget = replaceComponent(next.widget, update.component_id, (c) => ({ ...c, value: (c.value ?? '') + update.delta, streaming: !update.done }));
      break;
    case 'workflow.task.added':
      next.workflow.tasks.splice(update.task_index, 0, update.task);
      break;
    case 'workflow.task.updated':
      next.workflow.tasks[update.task_index] = update.task;
      break;
    case 'generated_image.updated':
      next.image = update.image;
      break;
    default:
      return null;
  }
  return next;
}

function replaceComponent(node, id, fn) {
  if (!node || typeof node !== 'object') return node;
  if (node.id === id) return fn(node);
  if (Array.isArray(node.children)) return { ...node, children: node.children.map((c) => replaceComponent(c, id, fn)) };
  if (node.children && typeof node.children === 'object') return { ...node, children: replaceComponent(node.children, id, fn) };
  return node;
}
