//! Layout components: the box-like containers [`WidgetBox`] (`Box`),
//! [`Row`], [`Col`] and [`Form`] with their shared [`BoxLayout`], and
//! [`Divider`], [`Spacer`], [`Image`] and [`Transition`].

use serde_json::Value;

use super::WidgetComponent;
use crate::protocol::ActionConfig;

props! {
    /// The layout props shared by `Box`, `Row`, `Col` and `Form`. The
    /// reference writes them **before** `key`, `id` and `type` (§8.1).
    /// Sizes are px numbers or CSS strings; `height`, `width`, `size`,
    /// `padding`, `margin` and `aspectRatio` numbers are floats in the
    /// reference (`4` is written `4.0`), the others integers.
    BoxLayout {
        /// The child components; omitted when `None`.
        children: Vec<WidgetComponent> [manual],
        /// Cross-axis alignment: `start`, `center`, `end`, `baseline`, `stretch`.
        align: String [opt],
        /// Main-axis distribution: `start`, ..., `between`, `around`, `evenly`.
        justify: String [opt],
        /// `nowrap`, `wrap` or `wrap-reverse`.
        wrap: String [opt],
        /// Flex grow/shrink factor.
        flex: Value [int],
        /// Gap between children: a spacing unit or a CSS string.
        gap: Value [int],
        /// Height: px or a CSS string.
        height: Value [float],
        /// Width: px or a CSS string.
        width: Value [float],
        /// Width and height.
        size: Value [float],
        /// Minimum height.
        min_height: Value [int],
        /// Minimum width.
        min_width: Value [int],
        /// Minimum width and height.
        min_size: Value [int],
        /// Maximum height.
        max_height: Value [int],
        /// Maximum width.
        max_width: Value [int],
        /// Maximum width and height.
        max_size: Value [int],
        /// Inner spacing: a unit, a CSS string or a `Spacing`.
        padding: Value [float],
        /// Outer spacing: a unit, a CSS string or a `Spacing`.
        margin: Value [float],
        /// Border: px, a `Border`, or per-side borders.
        border: Value [int],
        /// Corner radius token (`sm`, `md`, ..., `full`).
        radius: String [opt],
        /// Background: a token, a CSS color or a `ThemeColor`.
        background: Value [opt],
        /// Aspect ratio: a number or a CSS string.
        aspect_ratio: Value [float],
    }
}

impl BoxLayout {
    /// Appends a child component.
    pub fn child(mut self, child: impl Into<WidgetComponent>) -> Self {
        self.children
            .get_or_insert_with(Vec::new)
            .push(child.into());
        self
    }

    /// Appends child components.
    pub fn children<I>(mut self, children: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<WidgetComponent>,
    {
        self.children
            .get_or_insert_with(Vec::new)
            .extend(children.into_iter().map(Into::into));
        self
    }
}

component! {
    /// A flex container (`Box`; named so as not to shadow `std`'s `Box`).
    ///
    /// ```
    /// use chatkit_actors::widgets::{Input, Label, WidgetBox};
    ///
    /// let field = WidgetBox::new()
    ///     .child(Label::new("Name", "name"))
    ///     .child(Input::new("name"))
    ///     .direction("row");
    /// assert_eq!(
    ///     serde_json::to_string(&field).unwrap(),
    ///     concat!(
    ///         r#"{"children":[{"type":"Label","value":"Name","fieldName":"name"},"#,
    ///         r#"{"type":"Input","name":"name"}],"type":"Box","direction":"row"}"#
    ///     )
    /// );
    /// ```
    WidgetBox = "Box" [layout] {
        /// `row` or `col`.
        direction: String [opt],
    }
}

component! {
    /// A horizontal flex container (`Row`).
    Row = "Row" [layout] {}
}

component! {
    /// A vertical flex container (`Col`).
    Col = "Col" [layout] {}
}

component! {
    /// A form (`Form`): its submit buttons fire `onSubmitAction` with the
    /// field values merged into the payload (§4.10).
    Form = "Form" [layout] {
        /// The action fired on submit.
        on_submit_action: ActionConfig [opt => on_submit],
        /// `row` or `col`.
        direction: String [opt],
    }
}

impl WidgetBox {
    /// An empty box.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Row {
    /// An empty row.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Col {
    /// An empty column.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Form {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }
}

component! {
    /// A separator line (`Divider`).
    Divider = "Divider" {
        /// Color: a border color token, a CSS color or a `ThemeColor`.
        color: Value [opt],
        /// Thickness: px or a CSS string.
        size: Value [int],
        /// Space above and below.
        spacing: Value [int],
        /// Extend to the container's edges.
        flush: bool [opt],
    }
}

impl Divider {
    /// A divider.
    pub fn new() -> Self {
        Self::default()
    }
}

component! {
    /// Flexible space pushing siblings apart (`Spacer`).
    Spacer = "Spacer" {
        /// Minimum size along the flex direction.
        min_size: Value [int],
    }
}

impl Spacer {
    /// A spacer.
    pub fn new() -> Self {
        Self::default()
    }
}

component! {
    /// An image (`Image`). `src` is written verbatim (no URL
    /// normalisation, §1 item 6).
    Image = "Image" {
        /// The image URL.
        src: String [req],
        /// Alternative text.
        alt: String [opt],
        /// `cover`, `contain`, `fill`, `scale-down` or `none`.
        fit: String [opt],
        /// Focal position: `center`, `top left`, ...
        position: String [opt],
        /// Corner radius token.
        radius: String [opt],
        /// A subtle frame.
        frame: bool [opt],
        /// Extend to the container's edges.
        flush: bool [opt],
        /// Height: px or a CSS string.
        height: Value [int],
        /// Width.
        width: Value [int],
        /// Width and height.
        size: Value [int],
        /// Minimum height.
        min_height: Value [int],
        /// Minimum width.
        min_width: Value [int],
        /// Minimum width and height.
        min_size: Value [int],
        /// Maximum height.
        max_height: Value [int],
        /// Maximum width.
        max_width: Value [int],
        /// Maximum width and height.
        max_size: Value [int],
        /// Outer spacing: a unit, a CSS string or a `Spacing`.
        margin: Value [int],
        /// Background: a token, a CSS color or a `ThemeColor`.
        background: Value [opt],
        /// Aspect ratio: a number or a CSS string.
        aspect_ratio: Value [float],
        /// Flex grow/shrink factor.
        flex: Value [int],
    }
}

impl Image {
    /// An image from `src`.
    pub fn new(src: impl Into<String>) -> Self {
        Self {
            src: src.into(),
            ..Self::default()
        }
    }
}

component! {
    /// Animates layout changes of its one child (`Transition`). Its
    /// `children` is a **single** component, not an array.
    Transition = "Transition" {
        /// The animated child; omitted when `None`.
        children: std::boxed::Box<WidgetComponent> [manual],
    }
}

impl Transition {
    /// A transition around `child`.
    pub fn new(child: impl Into<WidgetComponent>) -> Self {
        Self::default().child(child)
    }

    /// Sets the child.
    pub fn child(mut self, child: impl Into<WidgetComponent>) -> Self {
        self.children = Some(std::boxed::Box::new(child.into()));
        self
    }
}
