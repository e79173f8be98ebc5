"""CeleryActors for Python: publish tasks, register workers and send metrics to a CeleryActors cluster over
Redis (wire format version 1), and run workers that take the tasks the cluster allocates.

>>> from celeryactors import get_allocator
>>> allocator = get_allocator()      # REDIS_URL, else redis://localhost:6379/0; ALLOCATOR_CHANNEL_PREFIX
>>> allocator.connect()
>>> task_id = allocator.publish_task(task_name='process_market_data', queue='data_processing',
...                                  task_data={'symbol': 'AAPL'}, priority=8)

Metrics: :mod:`celeryactors.metrics`. Workers: :class:`Worker`. The message shapes: :mod:`celeryactors.wire`.
"""

from .allocator import DEFAULT_REDIS_URL, Allocator, get_allocator, new_task_id
from .errors import CeleryActorsError, NoListenerError
from .wire import Channels, Task
from .worker import Handler, Worker

__all__ = [
    "Allocator",
    "CeleryActorsError",
    "Channels",
    "DEFAULT_REDIS_URL",
    "Handler",
    "NoListenerError",
    "Task",
    "Worker",
    "__version__",
    "get_allocator",
    "new_task_id",
]

#: The package's version.
__version__ = "0.1.0"
