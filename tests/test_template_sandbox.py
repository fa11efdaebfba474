"""Notice templates render in a sandbox: a template cannot reach Python internals."""

import pytest
from jinja2.exceptions import SecurityError

from workflow.notify.render import environment
from workflow.policy import default_policy_dir


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ notice.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
])
def test_a_hostile_template_cannot_reach_python_internals(source):
    env = environment(default_policy_dir())
    with pytest.raises(SecurityError):
        env.from_string(source).render(notice={"number": "x"})

