"""The Celery app the tests run real workers of. Settings come from the environment the fixture sets."""
import json
import os
import sys
import time

from celery import Celery

app = Celery('celery_app', broker=os.environ['CELERY_BROKER_URL'])
transport = {}
if os.environ.get('CELERY_SEP'):
    transport = {'priority_steps': list(range(10)), 'sep': os.environ['CELERY_SEP'],
                 'queue_order_strategy': 'priority'}
app.conf.update(
    worker_send_task_events=True,
    task_send_sent_event=os.environ.get('SENT_EVENTS', '1') == '1',
    task_default_queue='default',
    broker_transport_options=transport,
    worker_prefetch_multiplier=4,
)


class PaymentDeclined(Exception):
    pass


@app.task(name='shop.ok')
def ok(x):
    return x


@app.task(name='shop.declined')
def declined(x):
    raise PaymentDeclined(f'card {x}')


@app.task(name='shop.lookup')
def lookup(x):
    return {}[x]


@app.task(name='shop.flaky', bind=True, max_retries=5)
def flaky(self, x):
    if self.request.retries < 2:
        raise self.retry(countdown=0.1, exc=ConnectionError('flaky'))
    return x


@app.task(name='shop.long')
def long_task(seconds):
    time.sleep(seconds)
    return seconds


if __name__ == '__main__':
    # Producer: python3 celery_app.py '[["shop.ok", [1], {"queue": "default", "priority": 3}], ...]'
    for name, args, options in json.loads(sys.argv[1]):
        app.send_task(name, args=args, **options)
