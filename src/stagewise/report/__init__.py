"""Reports: one self-contained HTML page and a Markdown twin for a run or grid directory."""

from stagewise.report.build import write_report

__all__ = ["write_report"]
