package org.elasticsearch.plugins;

import org.elasticsearch.Version;
import org.elasticsearch.action.admin.cluster.node.info.PluginsAndModules;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.jdk.ModuleQualifiedExportsService;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * A PluginsService that loads plugin classes already on the classpath instead of scanning modules/ and plugins/.
 * It lives in this package because LoadedPlugin, loadPlugin and loadExtensions are package-private.
 */
public class ClasspathPluginsService extends PluginsService {

    private final List<LoadedPlugin> loaded;

    public ClasspathPluginsService(Settings settings, Collection<Class<? extends Plugin>> classes) {
        super(settings, null, null, null);
        List<LoadedPlugin> plugins = new ArrayList<>();
        for (Class<? extends Plugin> cls : classes) {
            PluginDescriptor descriptor = new PluginDescriptor(
                cls.getSimpleName(), "classpath plugin", "NA", Version.CURRENT.toString(),
                Integer.toString(Runtime.version().feature()), cls.getName(), null, List.of(),
                false, false, false, false);
            plugins.add(new LoadedPlugin(descriptor, loadPlugin(cls, settings, null)));
        }
        loadExtensions(plugins);
        this.loaded = List.copyOf(plugins);
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return loaded;
    }

    @Override
    public PluginsAndModules info() {
        List<PluginRuntimeInfo> infos = loaded.stream().map(p -> new PluginRuntimeInfo(p.descriptor())).toList();
        return new PluginsAndModules(infos, List.of());
    }

    // The server jar is not a named module on a plain classpath, so there are no qualified exports to wire.
    @Override
    protected void addServerExportsService(Map<String, List<ModuleQualifiedExportsService>> qualifiedExports) {}
}
