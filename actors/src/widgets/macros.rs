//! The macros that declare widget components, their props and their
//! builder setters, so that every struct reads as its wire shape: fields
//! in wire order (serde writes them in declaration order, §8.1), each
//! tagged with how it is stored and set.
//!
//! A prop is declared `name: Type [kind]` or `name: Type [kind => setter]`:
//!
//! - `req`: required, stored as `Type`, always written, set by the
//!   constructor (no setter);
//! - `manual`: optional (`Option<Type>`), setter written by hand;
//! - `opt`: optional, setter `name(impl Into<Type>)`;
//! - `float`: optional JSON number-or-string whose number is a float in
//!   the reference (`float | str`): integers are written as floats (`4` →
//!   `4.0`), as pydantic coerces them;
//! - `int`: optional JSON number-or-string whose number is an integer in
//!   the reference (`int | str`): integral floats are written as integers.
//!
//! `=> setter` renames the setter (`on_click_action` is set by `on_click`).

/// The stored type of a prop of the given kind.
macro_rules! prop_type {
    (req, $ty:ty) => { $ty };
    ($kind:ident, $ty:ty) => { Option<$ty> };
}

/// The builder setter of one prop (none for `req` and `manual`).
macro_rules! prop_setter {
    (@conv opt, $value:expr) => { $value };
    (@conv float, $value:expr) => { $crate::widgets::common::float_prop($value) };
    (@conv int, $value:expr) => { $crate::widgets::common::int_prop($value) };
    (req, $($rest:tt)*) => {};
    (manual, $($rest:tt)*) => {};
    ($kind:ident, $field:ident, $ty:ty, [$(#[$doc:meta])*], $name:ident $($default:ident)?) => {
        $(#[$doc])*
        pub fn $name(mut self, value: impl Into<$ty>) -> Self {
            self.$field = Some(prop_setter!(@conv $kind, value.into()));
            self
        }
    };
}

/// A plain props object (not a component: no `key`, `id` or `type`).
macro_rules! props {
    (
        $(#[$meta:meta])*
        $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty [$kind:ident $(=> $setter:ident)?]
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(default, rename_all = "camelCase")]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[serde(skip_serializing_if = "crate::widgets::common::Skip::skip")]
                pub $field: prop_type!($kind, $ty),
            )*
        }

        impl $name {
            $( prop_setter!($kind, $field, $ty, [$(#[$fmeta])*], $($setter)? $field); )*
        }
    };
}

/// A widget component: `key`, `id`, `type`, then its own props. With
/// `[layout]` after the type name, the box layout props ([`BoxLayout`]
/// (crate::widgets::BoxLayout)) come first, as for `Box`, `Row`, `Col` and
/// `Form` in the reference.
macro_rules! component {
    (
        $(#[$meta:meta])*
        $name:ident = $tag:literal $([$layout:ident])? {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty [$kind:ident $(=> $setter:ident)?]
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(default, rename_all = "camelCase")]
        pub struct $name {
            $(
                /// The layout props, written before `key`, `id` and `type`.
                #[serde(flatten)]
                pub $layout: $crate::widgets::BoxLayout,
            )?
            /// A key telling the client which component is which across
            /// renders; omitted when `None`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub key: Option<String>,
            /// The component id, the address of `widget.*` updates (a
            /// streamed Text or Markdown needs one); omitted when `None`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub id: Option<String>,
            #[serde(rename = "type")]
            tag: $crate::widgets::common::TypeTag<$name>,
            $(
                $(#[$fmeta])*
                #[serde(skip_serializing_if = "crate::widgets::common::Skip::skip")]
                pub $field: prop_type!($kind, $ty),
            )*
        }

        impl $crate::widgets::ComponentType for $name {
            const TYPE: &'static str = $tag;
        }

        impl $name {
            /// Sets `key`.
            pub fn key(mut self, key: impl Into<String>) -> Self {
                self.key = Some(key.into());
                self
            }

            /// Sets `id`.
            pub fn id(mut self, id: impl Into<String>) -> Self {
                self.id = Some(id.into());
                self
            }

            $( prop_setter!($kind, $field, $ty, [$(#[$fmeta])*], $($setter)? $field); )*

            $( layout_setters!($layout); )?
        }
    };
}

/// The layout setters of a box-like container, forwarded to its
/// [`BoxLayout`](crate::widgets::BoxLayout) field.
macro_rules! layout_setters {
    (@each $layout:ident; $($field:ident : $ty:ty),* $(,)?) => {
        $(
            #[doc = concat!(
                "Sets the layout prop `", stringify!($field),
                "` (see [`BoxLayout`](crate::widgets::BoxLayout))."
            )]
            pub fn $field(mut self, value: impl Into<$ty>) -> Self {
                self.$layout = self.$layout.$field(value);
                self
            }
        )*
    };
    ($layout:ident) => {
        /// Appends a child component.
        pub fn child(mut self, child: impl Into<$crate::widgets::WidgetComponent>) -> Self {
            self.$layout = self.$layout.child(child);
            self
        }

        /// Appends child components.
        pub fn children<I>(mut self, children: I) -> Self
        where
            I: IntoIterator,
            I::Item: Into<$crate::widgets::WidgetComponent>,
        {
            self.$layout = self.$layout.children(children);
            self
        }

        layout_setters!(@each $layout;
            align: String,
            justify: String,
            wrap: String,
            flex: ::serde_json::Value,
            gap: ::serde_json::Value,
            height: ::serde_json::Value,
            width: ::serde_json::Value,
            size: ::serde_json::Value,
            min_height: ::serde_json::Value,
            min_width: ::serde_json::Value,
            min_size: ::serde_json::Value,
            max_height: ::serde_json::Value,
            max_width: ::serde_json::Value,
            max_size: ::serde_json::Value,
            padding: ::serde_json::Value,
            margin: ::serde_json::Value,
            border: ::serde_json::Value,
            radius: String,
            background: ::serde_json::Value,
            aspect_ratio: ::serde_json::Value,
        );
    };
}

/// Implements `From<T> for Value` for a props object, so it can be given
/// to any JSON-typed prop setter.
macro_rules! into_value {
    ($($ty:ty),*) => {
        $(
            impl From<$ty> for ::serde_json::Value {
                fn from(props: $ty) -> Self {
                    ::serde_json::to_value(props).expect("widget props always serialize")
                }
            }
        )*
    };
}
