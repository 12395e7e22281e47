// SOAP plumbing shared by the files that look into requests or answer them
// themselves (auth_, ds_, fault_, nfc_, vm_).
package main

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"reflect"

	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
	vimxml "github.com/vmware/govmomi/vim25/xml"
)

// writeSOAPFault answers with HTTP 500 and a soapenv:Fault whose detail is
// <TypeFault xmlns="urn:vim25" xsi:type="Type">, as vCenter (and the stock
// simulator) encode faults; pyvmomi raises it as vim.fault.<Type>.
func writeSOAPFault(w http.ResponseWriter, msg string, fault types.BaseMethodFault) {
	var out bytes.Buffer
	out.WriteString(vimxml.Header)
	out.WriteString(`<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"` +
		` xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"` +
		` xmlns:xsd="http://www.w3.org/2001/XMLSchema"` +
		` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
		`<soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>`)
	_ = vimxml.EscapeText(&out, []byte(msg))
	out.WriteString(`</faultstring><detail>`)
	kind := reflect.TypeOf(fault).Elem().Name()
	enc := vimxml.NewEncoder(&out)
	err := enc.EncodeElement(fault, vimxml.StartElement{
		Name: vimxml.Name{Local: kind + "Fault"},
		Attr: []vimxml.Attr{
			{Name: vimxml.Name{Local: "xmlns"}, Value: "urn:" + vim25.Namespace},
			{Name: vimxml.Name{Local: "xsi:type"}, Value: kind},
		},
	})
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		http.Error(w, "encoding "+kind+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	out.WriteString(`</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(out.Bytes())
}

// readSOAPBody reads a request's body and puts it back for the next
// handler; on a read error it answers 400 and reports false.
func readSOAPBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		log.Printf("reading SOAP request: %s", err)
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, true
}
