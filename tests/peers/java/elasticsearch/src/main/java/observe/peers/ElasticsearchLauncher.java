package observe.peers;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.ClasspathNode;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Starts one Elasticsearch core node in this JVM: `ElasticsearchLauncher <path.home>`.
 * Settings come from <path.home>/config/elasticsearch.yml, written by tests/peers/elasticsearch.py.
 */
public final class ElasticsearchLauncher {

    private ElasticsearchLauncher() {}

    public static void main(String[] args) throws Exception {
        Path home = Path.of(args[0]).toAbsolutePath();
        Settings input = Settings.builder().put("path.home", home.toString()).build();
        Environment env = InternalSettingsPreparer.prepareEnvironment(input, Map.of(), home.resolve("config"), () -> "observe-test");
        LogConfigurator.setNodeName(env.settings().get("node.name", "observe-test"));
        LogConfigurator.configure(env, true);

        Node node = new ClasspathNode(env, List.of(Netty4Plugin.class));
        CountDownLatch stopped = new CountDownLatch(1);
        // SIGTERM runs this hook: close the node cleanly so its data is flushed for a restart on the same path.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.prepareForClose();
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "observe-peer-shutdown"));
        node.start();
        HttpServerTransport http = node.injector().getInstance(HttpServerTransport.class);
        System.out.println("observe-peer http " + http.boundAddress().publishAddress());
        System.out.flush();
        stopped.await();
    }
}
