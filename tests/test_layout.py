"""The package layout: no module of consent/ or web/ imports another in a circle, and the library
never imports its web shell."""

from __future__ import annotations

import textwrap
from pathlib import Path

from scripts import check_imports


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_the_project_has_no_import_cycles(capsys):
    assert check_imports.main() == 0, capsys.readouterr().out


def test_a_cycle_through_a_lazy_import_is_found(tmp_path, capsys):
    root = _tree(tmp_path, {
        "consent/__init__.py": "",
        "consent/check.py": "from .register import view\n",
        "consent/register/__init__.py": "",
        "consent/register/view.py": "def load():\n    from ..check import Checker\n",
        "web/__init__.py": "",
    })
    assert check_imports.main(root) == 1
    out = capsys.readouterr().out
    assert "consent.check -> consent.register.view" in out
    assert "consent.register.view -> consent.check" in out


def test_importing_a_sibling_submodule_through_the_package_is_not_a_cycle(tmp_path):
    root = _tree(tmp_path, {
        "consent/__init__.py": "",
        "consent/register/__init__.py": "from .store import Register\n",
        "consent/register/store.py": "from .records import Person\n",
        "consent/register/records.py": "",
        "consent/register/mis.py": "from . import store\nfrom .records import Person\n",
        "web/__init__.py": "",
    })
    assert check_imports.main(root) == 0


def test_the_library_importing_the_web_app_is_found(tmp_path, capsys):
    root = _tree(tmp_path, {
        "consent/__init__.py": "",
        "consent/cli.py": 'COMMANDS = {"worker": "web.batch_queue:worker_command"}\n',
        "consent/jobs/__init__.py": "",
        "consent/jobs/queue.py": "def f():\n    from web import tables\n    import web.batch\n    from ... import web\n",
        "consent/jobs/paths.py": 'FOLDER = "web"\n',  # a word, not a module path
        "web/__init__.py": "from consent.jobs import queue\n",
        "web/batch.py": "",
        "web/tables.py": "",
    })
    assert check_imports.main(root) == 1
    out = capsys.readouterr().out
    assert "consent/cli.py:1: 'web.batch_queue:worker_command'" in out
    assert "consent/jobs/queue.py:2: web" in out and "consent/jobs/queue.py:3: web.batch" in out
    assert "consent/jobs/queue.py:4: ...web" in out
    assert "paths.py" not in out


def test_one_web_area_importing_another_areas_views_is_found(tmp_path, capsys):
    root = _tree(tmp_path, {
        "consent/__init__.py": "",
        "web/__init__.py": "from .home.views import bp\nfrom .takedowns.views import bp as t\n",
        "web/home/__init__.py": "",
        "web/home/views.py": "def index():\n    from ..takedowns.views import open_takedowns\n",
        "web/takedowns/__init__.py": "",
        "web/takedowns/views.py": "from .listing import open_takedowns\n",
        "web/takedowns/listing.py": "",
    })
    assert check_imports.main(root) == 1
    out = capsys.readouterr().out
    assert "web.home.views -> web.takedowns.views" in out
    assert "web -> " not in out and "web.takedowns.views -> web.takedowns.listing" not in out
    (root / "web/home/views.py").write_text("def index():\n    from ..takedowns.listing import open_takedowns\n")
    assert check_imports.main(root) == 0
