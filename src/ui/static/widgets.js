// Widget rendering (PROTOCOL.md §8): the common components as DOM nodes.
// Text goes in through textContent, Markdown through the safe renderer,
// images only from http(s) or data:image URLs. Unknown components render
// their children, so a newer widget degrades instead of vanishing.

import { h, isSafeUrl } from './dom.js';
import { renderMarkdown } from './markdown.js';

/**
 * Renders a widget root. `onAction(action, formElement)` is called for
 * button clicks, list item clicks and form submits.
 */
export function renderWidget(root, onAction) {
  return render(root, { onAction, form: null });
}

function render(node, ctx) {
  if (!node || typeof node !== 'object') return null;
  const make = COMPONENTS[node.type] || unknown;
  const el = make(node, ctx);
  if (el && node.id) el.dataset.componentId = node.id;
  return el;
}

function children(node, ctx) {
  const list = Array.isArray(node.children) ? node.children : node.children ? [node.children] : [];
  return list.map((child) => render(child, ctx));
}

// Spacing numbers are steps of 4px, as in ChatKit; strings are CSS.
const space = (v) => (typeof v === 'number' ? `${v * 4}px` : typeof v === 'string' ? v : undefined);
const size = (v) => (typeof v === 'number' ? `${v}px` : typeof v === 'string' ? v : undefined);
const color = (v) => {
  if (v && typeof v === 'object') return v.light; // a {light, dark} pair; CSS vars below pick
  return typeof v === 'string' ? (/^[a-z-]+$/.test(v) && !CSS.supports('color', v) ? `var(--w-${v}, currentColor)` : v) : undefined;
};

function boxStyle(node) {
  const pad = node.padding;
  return {
    gap: space(node.gap),
    padding: pad && typeof pad === 'object' ? undefined : space(pad),
    margin: space(node.margin && typeof node.margin !== 'object' ? node.margin : undefined),
    'align-items': ALIGN[node.align],
    'justify-content': JUSTIFY[node.justify],
    'flex-wrap': node.wrap,
    flex: node.flex,
    width: size(node.width),
    height: size(node.height),
    'min-width': size(node.minWidth),
    'max-width': size(node.maxWidth),
    'min-height': size(node.minHeight),
    'max-height': size(node.maxHeight),
    'border-radius': typeof node.radius === 'string' && /^[a-z0-9]+$/.test(node.radius) ? `var(--radius-${node.radius}, 8px)` : size(node.radius),
    background: color(node.background),
    'aspect-ratio': node.aspectRatio,
  };
}

const ALIGN = { start: 'flex-start', center: 'center', end: 'flex-end', stretch: 'stretch', baseline: 'baseline' };
const JUSTIFY = { start: 'flex-start', center: 'center', end: 'flex-end', between: 'space-between', around: 'space-around', evenly: 'space-evenly', stretch: 'stretch' };

function box(direction) {
  return (node, ctx) => {
    const dir = direction || (node.direction === 'row' ? 'row' : 'col');
    return h('div', { class: `w-box w-${dir}`, style: boxStyle(node) }, children(node, ctx));
  };
}

function textStyle(node) {
  return {
    color: color(node.color),
    'font-weight': node.weight === 'semibold' ? 600 : node.weight === 'bold' ? 700 : node.weight === 'medium' ? 500 : undefined,
    'text-align': node.textAlign,
    'font-style': node.italic ? 'italic' : undefined,
    'text-decoration': node.lineThrough ? 'line-through' : undefined,
  };
}

function form(node, ctx) {
  const el = h('form', { class: `w-box w-${node.direction === 'row' ? 'row' : 'col'} w-form`, style: boxStyle(node) });
  const inner = { ...ctx, form: el };
  el.append(...children(node, inner).filter(Boolean));
  el.addEventListener('submit', (event) => {
    event.preventDefault();
    if (node.onSubmitAction) ctx.onAction(node.onSubmitAction, el);
  });
  return el;
}

function button(node, ctx) {
  const el = h('button', {
    type: node.submit ? 'submit' : 'button',
    class: `w-button w-${node.style || 'primary'} ${node.block ? 'w-block' : ''}`,
    disabled: node.disabled === true,
    text: node.label || '',
  });
  if (!node.submit && node.onClickAction) {
    el.addEventListener('click', () => ctx.onAction(node.onClickAction, ctx.form, el));
  }
  return el;
}

const COMPONENTS = {
  Card(node, ctx) {
    const card = h('div', { class: `w-card w-size-${node.size || 'md'}`, style: { background: color(node.background), padding: space(node.padding) } });
    const target = node.asForm ? form({ direction: 'col', gap: 3, onSubmitAction: node.confirm?.action }, ctx) : card;
    const inner = { ...ctx, form: node.asForm ? target : ctx.form };
    target.append(...children(node, inner).filter(Boolean));
    if (node.confirm || node.cancel) {
      const row = h('div', { class: 'w-box w-row w-card-actions' });
      if (node.cancel) row.append(button({ label: node.cancel.label, style: 'secondary', onClickAction: node.cancel.action }, inner));
      if (node.confirm) row.append(button({ label: node.confirm.label, onClickAction: node.confirm.action }, inner));
      target.append(row);
    }
    if (target !== card) card.append(target);
    if (node.status?.text) card.prepend(h('div', { class: 'w-status', text: node.status.text }));
    return card;
  },
  ListView(node, ctx) {
    const list = h('ul', { class: 'w-list', role: 'list' });
    if (node.status?.text) list.append(h('li', { class: 'w-status', text: node.status.text }));
    const items = Array.isArray(node.children) ? node.children : [];
    const limit = typeof node.limit === 'number' ? node.limit : items.length;
    items.slice(0, limit).forEach((child) => list.append(render(child, ctx)));
    return list;
  },
  ListViewItem(node, ctx) {
    const li = h('li', { class: 'w-list-item', style: { gap: space(node.gap), 'align-items': ALIGN[node.align] } }, children(node, ctx));
    if (node.onClickAction) {
      li.classList.add('w-clickable');
      li.tabIndex = 0;
      li.setAttribute('role', 'button');
      const fire = () => ctx.onAction(node.onClickAction, ctx.form, li);
      li.addEventListener('click', fire);
      li.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          fire();
        }
      });
    }
    return li;
  },
  Basic: box(null),
  Box: box(null),
  Row: box('row'),
  Col: box('col'),
  Form: form,
  Transition: (node, ctx) => render(node.children, ctx),
  Text(node) {
    const el = h('p', { class: `w-text w-size-${node.size || 'md'}`, style: textStyle(node), text: node.value ?? '' });
    if (node.streaming) el.classList.add('w-streaming');
    return el;
  },
  Title: (node) => h('h3', { class: `w-title w-size-${node.size || 'md'}`, style: textStyle(node), text: node.value ?? '' }),
  Caption: (node) => h('p', { class: 'w-caption', style: textStyle(node), text: node.value ?? '' }),
  Label: (node) => h('label', { class: 'w-label', for: node.fieldName ? `w-field-${node.fieldName}` : false, text: node.value ?? '' }),
  Markdown(node) {
    const el = h('div', { class: 'w-markdown markdown' });
    el.append(renderMarkdown(node.value ?? ''));
    return el;
  },
  Badge: (node) => h('span', { class: `w-badge w-badge-${node.color || 'secondary'} ${node.pill ? 'w-pill' : ''}`, text: node.label ?? '' }),
  Divider: (node) => h('hr', { class: 'w-divider', style: { margin: space(node.spacing) && `${space(node.spacing)} 0` } }),
  Spacer: () => h('div', { class: 'w-spacer' }),
  Icon: (node) => h('span', { class: 'w-icon', 'aria-hidden': 'true', text: ICONS[node.name] || '•' }),
  Image(node) {
    if (!isSafeUrl(node.src, { allowDataImage: true })) return h('span', { class: 'w-image-missing', text: node.alt || '' });
    return h('img', {
      class: 'w-image',
      src: node.src,
      alt: node.alt || '',
      loading: 'lazy',
      referrerpolicy: 'no-referrer',
      style: { width: size(node.width), height: size(node.height), 'object-fit': node.fit, 'border-radius': size(node.radius), 'aspect-ratio': node.aspectRatio },
    });
  },
  Button: button,
  Input: (node) =>
    h('input', {
      class: 'w-input',
      id: `w-field-${node.name}`,
      name: node.name,
      type: ['text', 'email', 'number', 'password', 'tel', 'url'].includes(node.inputType) ? node.inputType : 'text',
      value: node.defaultValue ?? false,
      placeholder: node.placeholder || false,
      required: node.required === true,
      disabled: node.disabled === true,
      'aria-label': node.placeholder || node.name,
    }),
  Textarea: (node) =>
    h('textarea', {
      class: 'w-input',
      id: `w-field-${node.name}`,
      name: node.name,
      rows: node.rows || 3,
      placeholder: node.placeholder || false,
      required: node.required === true,
      'aria-label': node.placeholder || node.name,
      text: node.defaultValue ?? '',
    }),
  Checkbox: (node) =>
    h('label', { class: 'w-checkbox' },
      h('input', { type: 'checkbox', name: node.name, checked: node.defaultChecked === true, disabled: node.disabled === true }),
      node.label || ''),
  Select: (node) =>
    h('select', { class: 'w-input', name: node.name, 'aria-label': node.placeholder || node.name },
      (node.options || []).map((o) => h('option', { value: o.value, disabled: o.disabled === true, selected: o.value === node.defaultValue, text: o.label ?? o.value }))),
  RadioGroup: (node) =>
    h('div', { class: 'w-box w-col', role: 'radiogroup', 'aria-label': node.ariaLabel || node.name },
      (node.options || []).map((o) =>
        h('label', { class: 'w-checkbox' }, h('input', { type: 'radio', name: node.name, value: o.value, checked: o.value === node.defaultValue }), o.label ?? o.value))),
};

function unknown(node, ctx) {
  return h('div', { class: 'w-box w-col', dataset: { widget: String(node.type) } }, children(node, ctx));
}

const ICONS = { check: '✓', 'check-circle': '✓', 'check-circle-filled': '✓', star: '☆', 'star-filled': '★', info: 'ⓘ', 'external-link': '↗', calendar: '📅', mail: '✉', phone: '☎', globe: '🌐', search: '🔍', plus: '+', 'chevron-right': '›', 'chevron-left': '‹', bolt: '⚡', sparkle: '✦', user: '👤' };

/**
 * The action payload with the form's fields merged in (dotted names nest),
 * as ChatKit does for actions fired inside a Form.
 */
export function actionPayload(action, formEl) {
  const payload = action.payload && typeof action.payload === 'object' && !Array.isArray(action.payload) ? structuredClone(action.payload) : action.payload ?? null;
  if (!formEl) return payload;
  const merged = payload && typeof payload === 'object' ? payload : {};
  for (const field of formEl.querySelectorAll('input[name], textarea[name], select[name]')) {
    if (field.type === 'radio' && !field.checked) continue;
    const value = field.type === 'checkbox' ? field.checked : field.value;
    const path = field.name.split('.');
    let target = merged;
    path.slice(0, -1).forEach((key) => {
      if (!target[key] || typeof target[key] !== 'object') target[key] = {};
      target = target[key];
    });
    target[path[path.length - 1]] = value;
  }
  return merged;
}
