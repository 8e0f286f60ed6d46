# ruff: noqa: E501  (real traces have long lines; wrapping them would change what is tested)
"""Real-world shaped traces, as applications print them, for the multiline and parser tests.

Each constant is the full text of one event: the tests split it into lines, interleave other streams,
and check that merging gives exactly this text back.
"""

SPRING_BOOT = """\
2024-05-14 09:12:44.871 ERROR 1 --- [nio-8080-exec-3] o.a.c.c.C.[.[.[/].[dispatcherServlet]    : Servlet.service() for servlet [dispatcherServlet] in context with path [] threw exception [Request processing failed; nested exception is org.springframework.dao.DataIntegrityViolationException: could not execute statement; SQL [n/a]; constraint [uk_order_ref]] with root cause

org.postgresql.util.PSQLException: ERROR: duplicate key value violates unique constraint "uk_order_ref"
  Detail: Key (ref)=(A-1009) already exists.
\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2713) ~[postgresql-42.6.0.jar!/:42.6.0]
\tat org.postgresql.core.v3.QueryExecutorImpl.processResults(QueryExecutorImpl.java:2401) ~[postgresql-42.6.0.jar!/:42.6.0]
\tat com.zaxxer.hikari.pool.HikariProxyPreparedStatement.executeUpdate(HikariProxyPreparedStatement.java) ~[HikariCP-5.0.1.jar!/:na]
\tat org.hibernate.engine.jdbc.internal.ResultSetReturnImpl.executeUpdate(ResultSetReturnImpl.java:197) ~[hibernate-core-5.6.15.Final.jar!/:5.6.15.Final]
\tat com.example.orders.OrderService.place(OrderService.java:58) ~[classes!/:0.0.1-SNAPSHOT]
\tat com.example.orders.OrderController.create(OrderController.java:31) ~[classes!/:0.0.1-SNAPSHOT]
\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method) ~[na:na]
\tat java.base/java.lang.Thread.run(Thread.java:833) ~[na:na]"""

SPRING_CAUSED_BY = """\
2024-05-14 09:13:02.114 ERROR 1 --- [           main] o.s.boot.SpringApplication               : Application run failed

org.springframework.beans.factory.BeanCreationException: Error creating bean with name 'entityManagerFactory' defined in class path resource [org/springframework/boot/autoconfigure/orm/jpa/HibernateJpaConfiguration.class]: Invocation of init method failed; nested exception is javax.persistence.PersistenceException: [PersistenceUnit: default] Unable to build Hibernate SessionFactory
\tat org.springframework.beans.factory.support.AbstractAutowireCapableBeanFactory.initializeBean(AbstractAutowireCapableBeanFactory.java:1804) ~[spring-beans-5.3.27.jar!/:5.3.27]
\tat org.springframework.beans.factory.support.AbstractAutowireCapableBeanFactory.doCreateBean(AbstractAutowireCapableBeanFactory.java:620) ~[spring-beans-5.3.27.jar!/:5.3.27]
\tat org.springframework.boot.SpringApplication.run(SpringApplication.java:1306) ~[spring-boot-2.7.12.jar!/:2.7.12]
\tat com.example.orders.OrdersApplication.main(OrdersApplication.java:10) ~[classes!/:0.0.1-SNAPSHOT]
Caused by: javax.persistence.PersistenceException: [PersistenceUnit: default] Unable to build Hibernate SessionFactory
\tat org.springframework.orm.jpa.vendor.SpringHibernateJpaPersistenceProvider.createContainerEntityManagerFactory(SpringHibernateJpaPersistenceProvider.java:58) ~[spring-orm-5.3.27.jar!/:5.3.27]
\tat org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean.createNativeEntityManagerFactory(LocalContainerEntityManagerFactoryBean.java:365) ~[spring-orm-5.3.27.jar!/:5.3.27]
\t... 16 common frames omitted
Caused by: org.hibernate.exception.JDBCConnectionException: Unable to open JDBC Connection for DDL execution
\tat org.hibernate.exception.internal.SQLStateConversionDelegate.convert(SQLStateConversionDelegate.java:112) ~[hibernate-core-5.6.15.Final.jar!/:5.6.15.Final]
\t... 33 common frames omitted
\tSuppressed: java.lang.IllegalStateException: pool closed
\t\tat com.zaxxer.hikari.pool.HikariPool.shutdown(HikariPool.java:214) ~[HikariCP-5.0.1.jar!/:na]
\t\t... 35 common frames omitted
Caused by: java.net.ConnectException: Connection refused
\tat java.base/sun.nio.ch.Net.pollConnect(Native Method) ~[na:na]
\tat org.postgresql.core.PGStream.createSocket(PGStream.java:241) ~[postgresql-42.6.0.jar!/:42.6.0]
\t... 45 common frames omitted"""

DUBBO = """\
[14/05/24 09:14:10:552 UTC] DubboClientHandler-10.1.4.7:20880-thread-12  WARN support.AbstractClusterInvoker:  [DUBBO] Failed to invoke the method sayHello in the service org.example.api.GreetingService, dubbo version: 3.2.4, current host: 10.1.3.9, error code: 5-15. This may be caused by , go to https://dubbo.apache.org/faq/5/15 to find instructions.
org.apache.dubbo.rpc.RpcException: Failed to invoke the method sayHello in the service org.example.api.GreetingService. Tried 3 times of the providers [10.1.4.7:20880, 10.1.4.8:20880] (2/2) from the registry zookeeper:2181 on the consumer 10.1.3.9 using the dubbo version 3.2.4. Last error is: Invoke remote method timeout. method: sayHello, provider: DefaultServiceInstance{serviceName='greeting-provider', host='10.1.4.8', port=20880}, cause: org.apache.dubbo.remoting.TimeoutException: Waiting server-side response timeout by scan timer. start time: 2024-05-14 09:14:07.541, end time: 2024-05-14 09:14:10.551, client elapsed: 1 ms, server elapsed: 3009 ms, timeout: 3000 ms
\tat org.apache.dubbo.rpc.cluster.support.FailoverClusterInvoker.doInvoke(FailoverClusterInvoker.java:114)
\tat org.apache.dubbo.rpc.cluster.support.AbstractClusterInvoker.invoke(AbstractClusterInvoker.java:341)
\tat org.apache.dubbo.rpc.proxy.InvokerInvocationHandler.invoke(InvokerInvocationHandler.java:92)
\tat org.example.api.GreetingServiceDubboProxy0.sayHello(GreetingServiceDubboProxy0.java)
\tat org.example.web.HelloController.hello(HelloController.java:24)
Caused by: org.apache.dubbo.remoting.TimeoutException: Waiting server-side response timeout by scan timer. start time: 2024-05-14 09:14:07.541, end time: 2024-05-14 09:14:10.551, client elapsed: 1 ms, server elapsed: 3009 ms, timeout: 3000 ms, request: Request [id=1042, version=2.0.2, twoWay=true, event=false, broken=false, mPayload=0, data=RpcInvocation [methodName=sayHello, parameterTypes=[class java.lang.String]]], channel: /10.1.3.9:53124 -> /10.1.4.8:20880
\tat org.apache.dubbo.remoting.exchange.support.DefaultFuture.doReceived(DefaultFuture.java:219)
\tat org.apache.dubbo.remoting.exchange.support.DefaultFuture.received(DefaultFuture.java:181)
\tat org.apache.dubbo.remoting.exchange.support.DefaultFuture$TimeoutCheckTask.notifyTimeout(DefaultFuture.java:305)
\tat org.apache.dubbo.common.threadpool.ThreadlessExecutor$RunnableWrapper.run(ThreadlessExecutor.java:184)
\t... 3 more"""

PYTHON = """\
2024-05-14 09:15:31,207 ERROR [worker.tasks] task sync_invoices failed
Traceback (most recent call last):
  File "/usr/local/lib/python3.11/site-packages/httpx/_transports/default.py", line 69, in map_httpcore_exceptions
    yield
  File "/usr/local/lib/python3.11/site-packages/httpx/_transports/default.py", line 233, in handle_request
    resp = self._pool.handle_request(req)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
httpcore.ConnectTimeout: timed out

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/app/worker/tasks.py", line 88, in sync_invoices
    resp = client.get(f"{BILLING}/invoices", params={"since": since})
  File "/usr/local/lib/python3.11/site-packages/httpx/_client.py", line 1041, in get
    return self.request(
           ^^^^^^^^^^^^^
httpx.ConnectTimeout: timed out"""

PYTHON_UNCAUGHT = """\
Traceback (most recent call last):
  File "/app/main.py", line 12, in <module>
    main()
  File "/app/main.py", line 8, in main
    config = load(os.environ["APP_CONFIG"])
                  ~~~~~~~~~~^^^^^^^^^^^^^^
  File "<frozen os>", line 679, in __getitem__
KeyError: 'APP_CONFIG'"""

GO_PANIC = """\
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6b3f2a]

goroutine 42 [running]:
github.com/example/cart/internal/store.(*Redis).Get(0x0, {0x7f1d20, 0xc0001a2000}, {0xc00002c0f0, 0x9})
\t/src/internal/store/redis.go:57 +0x2a
github.com/example/cart/internal/api.(*Handler).cart(0xc000118000, {0x7f3a40, 0xc0001c0000}, 0xc0001b6000)
\t/src/internal/api/cart.go:33 +0x9c
net/http.HandlerFunc.ServeHTTP(0xc0001b6000?, {0x7f3a40?, 0xc0001c0000?}, 0x0?)
\t/usr/local/go/src/net/http/server.go:2136 +0x29
net/http.serverHandler.ServeHTTP({0xc000190030?}, {0x7f3a40?, 0xc0001c0000?}, 0xc0001b6000)
\t/usr/local/go/src/net/http/server.go:2938 +0x8e
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3102 +0x4db

goroutine 1 [IO wait]:
internal/poll.runtime_pollWait(0x7f4b6c1e0eb8, 0x72)
\t/usr/local/go/src/runtime/netpoll.go:343 +0x85
main.main()
\t/src/cmd/cart/main.go:41 +0x3b8"""

GO_BEFORE = '{"level":"info","ts":1715678100.1,"msg":"GET /cart/9 200"}'

# nginx's default `combined` format, and ingress-nginx's default (combined + upstream fields).
NGINX_COMBINED = (
    '203.0.113.9 - alice [14/May/2024:09:16:01 +0000] "GET /static/app.js?v=3 HTTP/1.1" 200 51234 '
    '"https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"'
)
INGRESS_5XX = (
    '10.244.1.1 - - [14/May/2024:09:16:02 +0000] "POST /api/orders HTTP/1.1" 502 150 "-" "curl/8.5.0" 412 0.004 '
    '[shop-orders-8080] [] 10.244.2.17:8080, 10.244.2.18:8080 0, 0 0.001, 0.003 502, 502 6f1d8c1bb7f0a5c1e2d3f4a5b6c7d8e9'
)
