"""{{ cookiecutter.distribution }} passes the standard checks every Wishbone module passes."""

{% if cookiecutter.kind == "input" -%}
from {{ cookiecutter.package }} import {{ cookiecutter.class_name }}
from wishbone.testing import conformance

TestConformance = conformance(
    {{ cookiecutter.class_name }},
    config=lambda udp_port: {"port": udp_port},
    entry_point="{{ cookiecutter.name }}",
)
{%- elif cookiecutter.kind == "output" -%}
from {{ cookiecutter.package }} import {{ cookiecutter.class_name }}
from wishbone import new_event
from wishbone.testing import conformance

TestConformance = conformance(
    {{ cookiecutter.class_name }},
    config=lambda tmp_path: {"path": str(tmp_path / "out.txt")},
    entry_point="{{ cookiecutter.name }}",
    raising_event=new_event(42),
)
{%- else -%}
from {{ cookiecutter.package }} import {{ cookiecutter.class_name }}
from wishbone import new_event
from wishbone.testing import conformance

TestConformance = conformance(
    {{ cookiecutter.class_name }},
    config={},
    entry_point="{{ cookiecutter.name }}",
    raising_event=new_event(42),
)
{%- endif %}
