/* graphs.c — the status page's graphs (admin.h; docs/monitoring.md, "Graphs").
 *
 * The page draws them itself, as inline SVG, from the `history` of /status.json (history.c):
 * the page carries the one of its moment, and its script fetches /status.json again every few
 * seconds; the same answer refreshes the members'
 * states and figures and the recent errors in place, so the page no longer reloads (the
 * meta refresh stays for browsers without JavaScript). Nothing is loaded from anywhere else.
 * Each graph is drawn at its box's width in CSS pixels, so that text stays legible on a
 * phone, and again when that width changes. Every line carries data-series, data-last
 * (newest value) and data-max (its highest), for the tests and for anyone reading the DOM. */
#include "admin/admin.h"
#include "admin/history.h"

static const char style[] =
    "#graphs{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:.5em 1.5em}"
    "#graphs figure{margin:0;min-width:0}#graphs figcaption{font-weight:600;font-size:.95em}"
    "#graphs svg{display:block;width:100%;height:150px}#graphs svg text{font-size:11px;fill:#555}"
    ".legend{font-size:12px;color:#444}.legend span{margin-right:.9em;white-space:nowrap}"
    ".legend i{display:inline-block;width:1.4em;height:0;border-top:2px solid;"
    "vertical-align:middle;margin-right:.3em}.legend i.dash{border-top-style:dashed}";

/* One figure per graph: id, caption. */
static const char *const figures[][2] = {
    {"requests", "Requests per second, per pool"},
    {"errors", "Errors per second: 4xx dashed, 5xx solid"},
    {"latency", "Latency (ms, log scale): p50 solid, p99 dashed"},
    {"connections", "Connections"},
    {"members", "Members up, per pool"},
};

static const char script[] =
    "(function(){\n"
    "var C=['#1f6fb4','#d62728','#2ca02c','#9467bd','#ff7f0e','#8c564b','#e377c2','#17becf'];\n"
    "var NS='http://www.w3.org/2000/svg',last=null;\n"
    "function el(n,a,p){var e=document.createElementNS(NS,n);"
    "for(var k in a)e.setAttribute(k,a[k]);p.appendChild(e);return e}\n"
    "function label(svg,x,y,s,anchor){el('text',{x:x,y:y,'text-anchor':anchor},svg)"
    ".textContent=s}\n"
    "function nice(v){if(!(v>0))return 1;var e=Math.pow(10,Math.floor(Math.log10(v))),m=v/e;"
    "return(m<=1?1:m<=2?2:m<=5?5:10)*e}\n"
    "function fmt(v){return v>=1e4?Math.round(v/1e3)+'k':String(+v.toPrecision(3))}\n"
    /* S: [{label,values,color,dash}]; o.max fixes the top, o.log a log scale */
    "function chart(id,h,S,o){\n"
    " var svg=document.getElementById('g-'+id),W=Math.max(200,svg.parentNode.clientWidth),"
    "H=150,L=44,R=6,T=8,B=18,pw=W-L-R,ph=H-T-B,t=h.t,n=t.length,span=h.interval*h.capacity,"
    "t1=n?t[n-1]:0,top=0,lo=0;\n"
    " svg.setAttribute('viewBox','0 0 '+W+' '+H);svg.textContent='';\n"
    " S.forEach(function(s){s.values.forEach(function(v){if(v!=null&&v>top)top=v})});\n"
    " top=o.max||nice(top);if(o.log){lo=0.1;if(top<=lo)top=1}\n"
    " function y(v){if(o.log){v=Math.max(v,lo);return T+ph*(1-Math.log(v/lo)/Math.log(top/lo))}"
    "return T+ph*(1-v/top)}\n"
    " el('line',{x1:L,y1:T+ph,x2:L+pw,y2:T+ph,stroke:'#999'},svg);\n"
    /* grid lines: the top, half-way (or each power of ten on a log scale) */
    " var grid=[top];if(o.log){for(var g=1;g<top;g*=10)grid.push(g)}else grid.push(top/2);\n"
    " grid.forEach(function(g){if(g!=top&&y(g)-y(top)<12)return;el('line',{x1:L,y1:y(g),x2:L+pw,y2:"
    "y(g),stroke:'#e4e4e4'},svg);"
    "label(svg,L-4,y(g)+4,fmt(g),'end')});label(svg,L-4,T+ph,fmt(lo),'end');\n"
    " label(svg,L,H-3,'-'+fmt(span/60)+' min','start');label(svg,L+pw,H-3,'now','end');\n"
    " var leg=document.getElementById('l-'+id);leg.textContent='';\n"
    " S.forEach(function(s){var d='',pen='M',lv=null,mx=0;\n"
    "  for(var i=0;i<n;i++){var v=s.values[i];if(v==null){pen='M';continue}\n"
    "   d+=pen+(L+pw*(1-(t1-t[i])/span)).toFixed(1)+' '+y(v).toFixed(1)+' ';"
    /* a point alone between gaps: a dot (a zero-length segment with round caps) */
    "   if(pen=='M'&&(i+1>=n||s.values[i+1]==null))d+='h0.01 ';pen='L';lv=v;if(v>mx)mx=v}\n"
    "  el('path',{d:d,fill:'none',stroke:s.color,'stroke-width':2,'stroke-linejoin':'round',"
    "'stroke-linecap':'round','stroke-dasharray':s.dash?'5 3':'none','class':'series',"
    "'data-series':s.label,"
    "'data-last':lv==null?'':lv,'data-max':mx},svg);\n"
    "  var k=document.createElement('span'),sw=document.createElement('i');"
    "sw.style.borderColor=s.color;if(s.dash)sw.className='dash';k.appendChild(sw);"
    "k.appendChild(document.createTextNode(s.label+(lv==null?'':' '+fmt(lv))));"
    "leg.appendChild(k)})}\n"
    "function draw(h){var R=[],E=[],Q=[],U=[],mu=1;\n"
    " h.pools.forEach(function(p,i){var c=C[i%C.length];\n"
    "  R.push({label:p.name,values:p.requests_per_s,color:c});\n"
    "  E.push({label:p.name+' 4xx',values:p['4xx_per_s'],color:c,dash:1},"
    "{label:p.name+' 5xx',values:p['5xx_per_s'],color:c});\n"
    "  Q.push({label:p.name+' p50',values:p.p50_ms,color:c},"
    "{label:p.name+' p99',values:p.p99_ms,color:c,dash:1});\n"
    "  U.push({label:p.name,values:p.members_up,color:c});\n"
    "  p.members.forEach(function(v){if(v>mu)mu=v})});\n"
    " chart('requests',h,R,{});chart('errors',h,E,{});chart('latency',h,Q,{log:1});\n"
    " chart('connections',h,[{label:'client',values:h.client_connections,color:C[0]},"
    "{label:'upstream',values:h.upstream_connections,color:C[2]},"
    "{label:'pinned',values:h.pinned_connections,color:C[3]}],{});\n"
    " chart('members',h,U,{max:mu});\n"
    " document.getElementById('graphs').setAttribute('data-samples',h.t.length)}\n"
    /* The rest of the page, in place; a different set of members (a reload) reloads it. */
    "function update(j){last=j;draw(j.history);var ms=[];\n"
    " j.pools.forEach(function(p){p.members.forEach(function(m){ms.push(m)})});\n"
    " var sp=document.querySelectorAll('#members span[data-member]');\n"
    " if(sp.length!=ms.length){location.reload();return}\n"
    " ms.forEach(function(m,i){var s=sp[i],c=s.parentNode.parentNode.cells;"
    "if(s.getAttribute('data-member')!=m.host){location.reload();return}\n"
    "  s.className=m.state;s.textContent=m.state;c[4].textContent=m.connections;"
    "c[5].textContent=m.requests;c[6].textContent=m.request_rate.toFixed(1)});\n"
    " document.getElementById('summary').textContent=j.client_connections+"
    "' client connection(s) now; '+j.reloads+' reload(s), last '+"
    "(j.last_reload_ok?'successful':'refused')+'.';\n"
    " document.getElementById('errors').textContent=j.errors.map(function(e){return e+'\\n'})"
    ".join('')}\n"
    "function refresh(){fetch('/status.json',{cache:'no-store'}).then(function(r){"
    "return r.json()}).then(update).catch(function(){})}\n"
    /* The page comes with the history of its moment: drawn at once, no fetch to wait for. */
    "function go(){var e=document.getElementById('pc-history');"
    "if(e){last=JSON.parse(e.textContent);draw(last.history)}\n"
    " setInterval(refresh,+document.getElementById('graphs').getAttribute('data-every'))}\n"
    "window.addEventListener('resize',function(){if(last)draw(last.history)});\n"
    "document.addEventListener('DOMContentLoaded',go)})();\n";

void pc_admin_graphs_css(FILE *f)
{
    fputs(style, f);
}

void pc_admin_graphs_html(FILE *f, const struct pc_config *cfg)
{
    double interval = pc_history_interval();
    /* Refreshed every 5 s as the page used to be, or at every sample when they come faster
     * (the tests), but not more than once a second. */
    double every = interval < 1 ? 1 : interval > 5 ? 5 : interval;
    fprintf(f, "<h2>Last hour</h2><div id=\"graphs\" data-every=\"%.0f\">", every * 1000);
    for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++)
        fprintf(f,
                "<figure><figcaption>%s</figcaption><svg id=\"g-%s\" role=\"img\" "
                "aria-label=\"%s\"></svg><div class=\"legend\" id=\"l-%s\"></div></figure>",
                figures[i][1], figures[i][0], figures[i][1], figures[i][0]);
    fputs("</div>\n<script id=\"pc-history\" type=\"application/json\">{", f);
    pc_history_json(f, cfg);
    fprintf(f, "}</script>\n<script>\n%s</script>\n", script);
}
