"""The fleet screen's table: a DataTable whose cells and lines are re-rendered only when
their values change (DataTable's own rendering, forked for it: libraries.md §1.4)."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey


class FleetTable(DataTable[Text]):
    """A DataTable whose cell renders and lines are kept until their values change.

    DataTable keys its cell and line caches on the table's update count, so one
    `update_cell` re-renders every visible cell, the static columns (cluster, node, role,
    model, host) included. Here a cell (and a line) is re-rendered only when its value
    object was replaced (the screen replaces a cell's Text only when what it shows
    changed), or when the row moves, the width or style changes, or the cursor or hover
    passes over it; a refresh's changed cells cost one repaint, and what a frame's lines
    share is looked up once per frame.
    """

    CACHE_SIZE = 20_000

    def __init__(self, **kwargs) -> None:
        # before DataTable's own: its reactive watchers clear the caches while it starts
        self._cells: dict[tuple, tuple[object, list]] = {}
        self._lines: dict[tuple, tuple[tuple, Strip]] = {}
        self._frame: _Frame | None = None
        super().__init__(**kwargs)

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._cells.clear()
        self._lines.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()  # a theme or CSS change restyles every cell
        self._cells.clear()
        self._lines.clear()

    def update_cells(self, changes: dict[str, dict[str, Text]]) -> None:
        """Replace cells of many rows ({row key: {column key: value}}) with one repaint of
        just those cells on screen: the terminal is sent what changed, not the table
        (update_cell repaints the whole table once per cell)."""
        for row_key, values in changes.items():
            row = self._data[RowKey(row_key)]
            for column_key, value in values.items():
                row[ColumnKey(column_key)] = value
        if changes:
            self._update_count += 1
            regions = self._cell_regions(changes)
            if regions is None:
                self.refresh()
            elif regions:
                self.refresh(*regions)

    def _cell_regions(self, changes: dict[str, dict[str, Text]]) -> list[Region] | None:
        """Where the changed cells are on screen (None: a table this does not lay out,
        rows taller than a line or labelled, which is refreshed whole)."""
        if self._labelled_row_exists or any(r.height != 1 for r in self.rows.values()):
            return None
        scroll_x, scroll_y = self.scroll_offset
        top = self.header_height if self.show_header else 0
        x, columns = 0, {}
        for column in self.ordered_columns:
            width = column.get_render_width(self)
            columns[column.key] = (x - scroll_x, width)
            x += width
        regions = []
        for row_key, values in changes.items():
            index = self._row_locations.get(RowKey(row_key))
            y = None if index is None else index + top - scroll_y
            if y is None or not top <= y < self.size.height:
                continue  # off screen: drawn when it scrolls in
            # one region a row, from its first changed cell to its last: the compositor
            # pays per region (a region per cell cost 1,000 nodes' refresh 4 ms more)
            spans = [columns[ColumnKey(key)] for key in values]
            left = min(x for x, _ in spans)
            right = max(x + width for x, width in spans)
            regions.append(Region(left, y, right - left, 1))
        return regions

    def render_lines(self, crop):
        # what every line of one frame shares (styles that walk the CSS, column widths) is
        # looked up once per frame, not once per line or cell
        self._frame = _Frame(self)
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        if self.fixed_rows or self._frame is None:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        if not self.show_header or y >= self.header_height:
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + self.size.width, self._frame.style)

    def _render_line_in_row(self, row_key, line_no, base_style, cursor_location, hover_location):
        """DataTable's row assembly for this table's shape (row cursor, no row labels, no
        fixed columns), with the frame's shared values. tests/tui: equal to DataTable's."""
        frame = self._frame
        labels = self._labelled_row_exists and self.show_row_labels
        if frame is None or self.cursor_type != "row" or self.fixed_columns or labels:
            return super()._render_line_in_row(
                row_key, line_no, base_style, cursor_location, hover_location
            )
        row_index = self._row_locations.get(row_key)
        if row_index is None:  # the header
            row_index = -1
        cursor = cursor_location.row == row_index
        hover = hover_location.row == row_index
        row_style = frame.row_style(row_index, base_style)
        render_cell = self._render_cell
        scrollable = [
            render_cell(row_index, column_index, row_style, width, cursor=cursor, hover=hover)[
                line_no
            ]
            for column_index, width in enumerate(frame.widths)
        ]
        extend = frame.extend_style(row_index, cursor, hover, row_style)
        scrollable.append([Segment(" " * frame.remaining, extend)])
        return [], scrollable

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """A body line is kept while its row holds the same value objects and nothing
        else that shows on it changed (position, width, cursor or hover on it, focus)."""
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        row = self._data.get(row_key)
        if row is None or self.cursor_type != "row":
            return super()._render_line(y, x1, x2, base_style)
        row_index = self._row_locations.get(row_key)
        key = (
            y,
            x1,
            x2,
            self.size.width,
            base_style,
            row_key,
            line_no,
            row_index,
            self.cursor_coordinate.row == row_index,
            self.hover_coordinate.row == row_index,
            self.show_cursor,
            self._show_hover_cursor,
            self._pseudo_class_state,
            self._frame.widths if self._frame else self._widths(),
        )
        values = tuple(row.values())
        hit = self._lines.get(key)
        same = hit is not None and len(hit[0]) == len(values)
        if same and all(a is b for a, b in zip(hit[0], values, strict=True)):
            return hit[1]
        strip = self._assemble(y, row_key, line_no, x1, x2, base_style)
        if len(self._lines) >= self.CACHE_SIZE:
            self._lines.clear()
        self._lines[key] = (values, strip)
        return strip

    def _assemble(
        self, y: int, row_key, line_no: int, x1: int, x2: int, base_style: Style
    ) -> Strip:
        """DataTable's line from its cells, without its crop where there is none to make
        (not scrolled sideways): each cell is exactly its column's width, so the line's
        length is known. tests/tui: equal to DataTable's."""
        frame = self._frame
        labels = self._labelled_row_exists and self.show_row_labels
        if frame is None or x1 != 0 or x2 != self.size.width or self.fixed_columns or labels:
            return super()._render_line(y, x1, x2, base_style)
        _, scrollable = self._render_line_in_row(  # no fixed columns here
            row_key,
            line_no,
            base_style,
            cursor_location=self.cursor_coordinate,
            hover_location=self.hover_coordinate,
        )
        segments = [segment for cell in scrollable for segment in cell]
        length = sum(frame.widths) + frame.remaining
        return Strip(segments, length).adjust_cell_length(x2, base_style).simplify()

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ):
        if row_index < 0 or column_index < 0:  # header and labels: the stock cache
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        value = self._data.get(row_key, {}).get(column_key)
        key = (
            row_key,
            column_key,
            row_index,
            base_style,
            width,
            cursor,
            hover,
            self._show_hover_cursor,
            self._pseudo_class_state,
        )
        hit = self._cells.get(key)
        if hit is not None and hit[0] is value:
            return hit[1]
        lines = self._render_text_cell(
            row_index, column_index, value, base_style, width, cursor, hover
        )
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        if len(self._cells) >= self.CACHE_SIZE:
            self._cells.clear()
        self._cells[key] = (value, lines)
        return lines

    def _widths(self) -> tuple[int, ...]:
        return tuple(column.get_render_width(self) for column in self.ordered_columns)

    def _render_text_cell(self, row_index, column_index, value, base_style, width, cursor, hover):
        """A one-line Text cell, rendered as DataTable renders it (Styled(Padding(text)) in a
        console of that width, no wrap) without the generic renderable machinery; None
        for anything else. tests/tui: equal, segment for segment, to DataTable's own."""
        if not isinstance(value, Text) or "\n" in value.plain or "\t" in value.plain:
            return None
        if value.justify not in (None, "default", "left") or value.end != "\n":
            return None
        row = self.rows.get(self._row_locations.get_key(row_index))
        pad = self.cell_padding
        inner = width - 2 * pad
        if row is None or row.height != 1 or inner <= 0 or row_index < self.fixed_rows:
            return None
        if column_index < self.fixed_columns:
            return None
        component, post = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component
        line = value.copy()
        line.truncate(inner, overflow=value.overflow or "fold", pad=value.justify == "left")
        if line.style:  # the text's own style becomes its first span, as Text.join does
            line.stylize_before(line.style)
            line.style = ""
        console = self.app.console
        segments = Segment.adjust_line_length(list(line.render(console, end="")), inner, pad=True)
        blank = Segment(" " * pad, Style.null()) if pad else None
        edged = [blank, *segments, blank] if blank else segments
        return [list(Segment.apply_style(edged, pre, post))]


class _Frame:
    """One frame's shared values for FleetTable's lines, as DataTable computes them."""

    def __init__(self, table: FleetTable) -> None:
        self.table = table
        self.style = table.rich_style
        self.widths = table._widths()
        table_width = sum(self.widths) + table._row_label_column_width
        self.remaining = max(0, table.size.width - table_width)
        self._rows: dict[tuple, Style] = {}
        self._extends: dict[tuple, Style] = {}

    def row_style(self, row_index: int, base_style: Style) -> Style:
        t = self.table
        kind = (
            row_index if row_index < max(0, t.fixed_rows) else ("odd" if row_index % 2 else "even")
        )
        key = (kind, base_style)
        style = self._rows.get(key)
        if style is None:
            style = self._rows[key] = t._get_row_style(row_index, base_style)
        return style

    def extend_style(self, row_index: int, cursor: bool, hover: bool, row_style: Style) -> Style:
        """The style of the blank past the last column (DataTable's, for a row cursor)."""
        key = (row_index == -1, cursor, hover, row_style)
        style = self._extends.get(key)
        if style is None:
            t = self.table
            extend, _ = t._get_styles_to_render_cell(
                row_index == -1,
                False,
                False,
                hover,
                cursor,
                t.show_cursor,
                t._show_hover_cursor,
                False,
                False,
            )
            style = self._extends[key] = row_style + extend
        return style + Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
